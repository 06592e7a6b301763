"""Discord end to end with the real Desk: the process's own parts (bot.app build/start) on
this loop, SQLite, the Herenya client against the simulator on loopback, the discord.py
client against the fake Discord, alerts through the real webhook route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.discord_harness import DeskWorld, World, card_for, desk_world, timed_discord_world
from tests.e2e.fake_discord import embed_text, is_ephemeral

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


@pytest.fixture
async def desk(world: World, tmp_path: Path) -> AsyncIterator[DeskWorld]:
    async with desk_world(world, tmp_path / "desk.db") as d:
        yield d


async def card_shows(d: DeskWorld, mid: int, words: str) -> str:
    fake = d.world.discord
    await fake.wait_for(lambda: words in embed_text(fake.messages[mid]), within=10)
    return embed_text(fake.messages[mid])


async def test_approve_sends_exactly_one_order_and_the_card_shows_the_fill(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await card_for(desk, sid)
    pending = embed_text(w.discord.messages[mid])
    assert "Waiting for approval" in pending and "SA40" in pending
    assert w.discord.custom_ids(w.discord.messages[mid]) == [f"sd:approve:{sid}", f"sd:edit:{sid}", f"sd:reject:{sid}"]

    click = await w.discord.click(mid, f"sd:approve:{sid}", w.alice)
    reply = await click.reply()
    assert is_ephemeral(reply) and reply["content"].startswith("✅")

    await w.discord.wait_for(lambda: desk.orders(sid), within=10)
    text = await card_shows(desk, mid, "Executed")
    [order] = desk.orders(sid)
    assert (order["side"], order["quantity"], order["status"]) == ("BUY", 1, "FILLED")
    assert f"by <@{w.alice.id}>" in text  # shown by Discord as alice
    assert w.discord.messages[mid]["components"] == []
    assert len(w.discord.calls_to("POST", rf"^/channels/{w.approvals}/messages$")) == 1
    # The log channel hears of the order and its fill.
    await w.discord.wait_for(lambda: "filled" in "".join(m["content"] for m in w.discord.channel_messages(w.log)))


async def test_non_approver_is_refused_and_nothing_is_ordered(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await card_for(desk, sid)
    reply = await (await w.discord.click(mid, f"sd:approve:{sid}", w.mallory)).reply()
    assert is_ephemeral(reply) and reply["content"] == "⛔ mallory may not approve signals: approvers only"
    await asyncio.sleep(0.3)
    assert desk.orders(sid) == []
    assert w.discord.custom_ids(w.discord.messages[mid])  # still waiting, buttons kept


async def test_two_approvers_at_once_give_one_order(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await card_for(desk, sid)
    clicks = await asyncio.gather(
        w.discord.click(mid, f"sd:approve:{sid}", w.alice),
        w.discord.click(mid, f"sd:approve:{sid}", w.bob),
        w.discord.click(mid, f"sd:approve:{sid}", w.alice),
    )
    replies = [(await c.reply())["content"] for c in clicks]
    assert sum(r.startswith("✅") for r in replies) == 1, replies
    assert sum("already" in r for r in replies) == 2, replies
    await card_shows(desk, mid, "Executed")
    await asyncio.sleep(0.3)
    assert len(desk.orders(sid)) == 1


async def test_edit_quantity_then_approve_orders_the_edited_quantity(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await card_for(desk, sid)
    opened = await w.discord.click(mid, f"sd:edit:{sid}", w.alice)
    submitted = await w.discord.submit_modal(opened, w.alice, {"quantity": "3"})
    assert (await submitted.reply())["content"].startswith("✅")
    text = await card_shows(desk, mid, "Quantity     3 market")
    assert f"Edited by <@{w.alice.id}>: quantity 3" in text

    await (await w.discord.click(mid, f"sd:approve:{sid}", w.bob)).reply()
    await w.discord.wait_for(lambda: desk.orders(sid), within=10)
    await card_shows(desk, mid, "Executed")
    [order] = desk.orders(sid)
    assert order["quantity"] == 3


async def test_reject_sends_nothing(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await card_for(desk, sid)
    opened = await w.discord.click(mid, f"sd:reject:{sid}", w.carol)
    replied = await (await w.discord.submit_modal(opened, w.carol, {"reason": "news at 14:30 **now**"})).reply()
    assert replied["content"].endswith("news at 14:30 **now**"), replied
    text = await card_shows(desk, mid, "Rejected")
    assert f"by <@{w.carol.id}>" in text and w.discord.messages[mid]["components"] == []
    assert "💬 Reason: news at 14:30 \\*\\*now\\*\\*" in text  # the reason's markdown shown as typed
    assert desk.orders(sid) == []
    stored = await desk.app.use_cases.queries.signal_view(sid)
    assert stored is not None and stored.signal.reason == "news at 14:30 **now**"


async def test_expiry_edits_the_card_and_a_late_click_is_refused(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await card_for(desk, sid)
    desk.clock.offset = timedelta(minutes=16)
    assert await desk.app.use_cases.decisions.run_due() == [sid]  # what the runner's expiry task calls
    text = await card_shows(desk, mid, "Expired")
    assert "nothing was sent" in text and w.discord.messages[mid]["components"] == []
    assert desk.orders(sid) == []
