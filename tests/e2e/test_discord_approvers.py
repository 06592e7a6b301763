"""Approvers are called and cards carry the alert's context (issue 17 items 5, 7 and 9), end
to end: the real discord.py client against the loopback fake Discord, with the fake Desk
and with the real one (SQLite, the Herenya simulator, alerts through the webhook route)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.discord.runtime import DiscordRuntime
from tests.e2e.discord_harness import DeskWorld, World, desk_world, fake_desk_runtime, timed_discord_world
from tests.e2e.fake_desk import FakeDesk, make_card
from tests.e2e.fake_discord import RestCall, embed_text, is_ephemeral

pytestmark = pytest.mark.timeout(90)

CHART = "https://www.tradingview.com/chart/AbCd1234/"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


def posts(world: World) -> list[RestCall]:
    return world.discord.calls_to("POST", rf"^/channels/{world.approvals}/messages$")


def role_only(world: World) -> dict[str, Any]:
    return {"parse": [], "roles": [world.call_role]}


async def card_message(world: World, desk: FakeDesk, signal_id: int, **over: Any) -> int:
    await desk.request_approval(make_card(signal_id, **over))
    [msg] = await world.discord.wait_for(
        lambda: [m for m in world.discord.channel_messages(world.approvals) if f"#{signal_id} " in embed_text(m)]
    )
    return int(msg["id"])


# ---------------------------------------------------------------------- with the fake Desk


async def test_a_new_card_pings_exactly_the_approver_role_and_links_the_chart(world: World) -> None:
    desk = FakeDesk()
    async with fake_desk_runtime(world, desk):
        mid = await card_message(world, desk, 7, chart_url=CHART, rsi=Decimal("23.4"), timeframe="4h")
        [post] = posts(world)
        assert post.body["content"] == f"<@&{world.call_role}> a new signal awaits approval"
        assert post.body["allowed_mentions"] == role_only(world)
        msg = world.discord.messages[mid]
        text = embed_text(msg)
        assert "RSI          23.4" in text and "Timeframe    4h" in text
        buttons = [c for row in msg["components"] for c in row["components"]]
        assert [b.get("custom_id") for b in buttons] == ["sd:approve:7", "sd:edit:7", "sd:reject:7", None]
        assert (buttons[3]["style"], buttons[3]["url"], buttons[3]["label"]) == (5, CHART, "Chart")

        await (await world.discord.click(mid, "sd:approve:7", world.alice)).reply()
        await world.discord.wait_for(lambda: "Executed" in embed_text(world.discord.messages[mid]))
        # Decided: the decision buttons go, the chart stays.
        after = [c for row in world.discord.messages[mid]["components"] for c in row["components"]]
        assert [(b.get("custom_id"), b.get("url")) for b in after] == [(None, CHART)]


async def test_a_reminder_replies_to_the_card_and_pings_the_role_once(world: World) -> None:
    desk = FakeDesk()
    async with fake_desk_runtime(world, desk) as runtime:
        mid = await card_message(world, desk, 8)
        await desk.remind(8)
        await runtime.sink.drain(5)
        reminder = posts(world)[-1]
        assert reminder.body["content"].startswith(f"⏰ <@&{world.call_role}> Signal #8 for SA40_RSI_Bot still awaits")
        assert reminder.body["allowed_mentions"] == role_only(world)
        assert reminder.body["message_reference"]["message_id"] == mid
        assert len(posts(world)) == 2

        # A card decided before its reminder went out is left alone.
        opened = await world.discord.click(mid, "sd:reject:8", world.bob)
        await (await world.discord.submit_modal(opened, world.bob, {})).reply()
        await desk.remind(8)
        await runtime.sink.drain(5)
        assert len(posts(world)) == 2


async def test_an_expired_card_is_edited_and_says_so_in_the_channel(world: World) -> None:
    desk = FakeDesk()
    async with fake_desk_runtime(world, desk) as runtime:
        mid = await card_message(world, desk, 11)
        await desk.expire(11)
        await world.discord.wait_for(lambda: "Expired" in embed_text(world.discord.messages[mid]))
        await runtime.sink.drain(5)
        line = posts(world)[-1]
        assert line.body["content"] == (
            "⌛ Signal #11 for SA40_RSI_Bot (open · enter long) expired without a decision; nothing was sent."
        )
        assert line.body["allowed_mentions"] == {"parse": []}
        assert line.body["message_reference"]["message_id"] == mid
        assert world.discord.messages[mid]["components"] == []


async def test_without_the_setting_a_card_pings_no_one(world: World) -> None:
    world.settings = world.settings.model_copy(update={"discord_approval_mention_role_id": None})
    desk = FakeDesk()
    runtime: DiscordRuntime
    async with fake_desk_runtime(world, desk) as runtime:
        await card_message(world, desk, 9)
        await runtime.sink.drain(5)
        [post] = posts(world)
        assert "content" not in post.body or not post.body["content"]
        assert post.body["allowed_mentions"] == {"parse": []}


# ---------------------------------------------------------------------- with the real Desk


@pytest.fixture
async def desk(world: World, tmp_path: Path) -> AsyncIterator[DeskWorld]:
    async with desk_world(world, tmp_path / "desk.db", base_position_size=2, second_approval_above=1) as d:
        yield d


async def real_card(d: DeskWorld, signal_id: int) -> int:
    fake, channel = d.world.discord, d.world.approvals
    [msg] = await fake.wait_for(
        lambda: [m for m in fake.channel_messages(channel) if f"#{signal_id} " in embed_text(m) and m["embeds"]],
        within=10,
    )
    return int(msg["id"])


async def shows(d: DeskWorld, mid: int, words: str) -> str:
    fake = d.world.discord
    await fake.wait_for(lambda: words in embed_text(fake.messages[mid]), within=10)
    return embed_text(fake.messages[mid])


async def test_two_members_are_needed_above_the_size_and_the_same_one_cannot_approve_twice(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await real_card(desk, sid)
    assert "Needs 2 approvers (0 of 2): 2 contracts is above second_approval_above (1)" in await shows(
        desk, mid, "Needs 2"
    )

    first = await (await w.discord.click(mid, f"sd:approve:{sid}", w.alice)).reply()
    assert is_ephemeral(first) and first["content"].startswith(f"✅ signal #{sid} approved 1 of 2 by alice")
    text = await shows(desk, mid, "1 of 2")
    assert f"**1 of 2** — approved by <@{w.alice.id}>" in text
    assert w.discord.custom_ids(w.discord.messages[mid]) == [f"sd:approve:{sid}", f"sd:edit:{sid}", f"sd:reject:{sid}"]
    assert desk.orders(sid) == []

    again = await (await w.discord.click(mid, f"sd:approve:{sid}", w.alice)).reply()
    assert again["content"] == (
        f"⛔ alice already approved signal #{sid} (1 of 2); it needs a second approval from a different person"
    )
    assert desk.orders(sid) == []

    second = await (await w.discord.click(mid, f"sd:approve:{sid}", w.bob)).reply()
    assert second["content"].startswith(f"✅ signal #{sid} approved by bob (2 of 2)")
    await w.discord.wait_for(lambda: desk.orders(sid), within=10)
    text = await shows(desk, mid, "Executed")
    assert f"by <@{w.bob.id}>" in text and f"(2 of 2; first <@{w.alice.id}>)" in text
    [order] = desk.orders(sid)
    assert (order["side"], order["quantity"]) == ("BUY", 2)


async def test_one_reject_after_the_first_approval_ends_it(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await real_card(desk, sid)
    await (await w.discord.click(mid, f"sd:approve:{sid}", w.alice)).reply()
    await shows(desk, mid, "1 of 2")
    opened = await w.discord.click(mid, f"sd:reject:{sid}", w.bob)
    await (await w.discord.submit_modal(opened, w.bob, {})).reply()
    text = await shows(desk, mid, "Rejected")
    assert f"(after 1 of 2 by <@{w.alice.id}>)" in text and w.discord.messages[mid]["components"] == []
    assert desk.orders(sid) == []


async def test_the_real_desk_reminds_once_at_half_the_expiry_then_expires_the_card(desk: DeskWorld) -> None:
    w = desk.world
    sid = await desk.alert()
    mid = await real_card(desk, sid)
    card_post = posts(w)[0]
    assert card_post.body["content"] == f"<@&{w.call_role}> a new signal awaits approval"

    desk.clock.offset = timedelta(minutes=8)  # of 15
    assert await desk.app.use_cases.decisions.run_due() == []
    reminder = await w.discord.wait_for(lambda: [c for c in posts(w) if "⏰" in (c.body.get("content") or "")])
    assert len(reminder) == 1 and reminder[0].body["message_reference"]["message_id"] == mid
    assert await desk.app.use_cases.decisions.run_due() == []  # once
    async with desk.app.database.uow() as uow:
        stored = await uow.approvals.get(sid)
    assert stored is not None and stored.reminded_at is not None

    desk.clock.offset = timedelta(minutes=16)
    assert await desk.app.use_cases.decisions.run_due() == [sid]
    await shows(desk, mid, "Expired")
    lines = await w.discord.wait_for(lambda: [c for c in posts(w) if "⌛" in (c.body.get("content") or "")])
    assert lines[0].body["content"].startswith(f"⌛ Signal #{sid} for SA40_RSI_Bot")
    assert [c for c in posts(w) if "⏰" in (c.body.get("content") or "")] == reminder
    assert desk.orders(sid) == []
