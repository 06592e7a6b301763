"""Approval cards end to end: the real discord.py client against the loopback fake Discord,
deciding through a fake Desk that enforces what the real one does at this boundary."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bot.discord.runtime import DiscordRuntime
from tests.e2e.discord_harness import TOKEN, World, fake_desk_runtime, timed_discord_world
from tests.e2e.fake_desk import FakeDesk, make_card
from tests.e2e.fake_discord import FIRST_RESPONSE_LIMIT, MODAL, Member, embed_text, is_ephemeral
from trading.domain.records import SignalEdits

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


@pytest.fixture
async def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
async def runtime(world: World, desk: FakeDesk) -> AsyncIterator[DiscordRuntime]:
    async with fake_desk_runtime(world, desk) as rt:
        yield rt


async def post_card(world: World, desk: FakeDesk, signal_id: int = 7, **over: object) -> int:
    await desk.request_approval(make_card(signal_id, **over))  # type: ignore[arg-type]
    msgs = await world.discord.wait_for(
        lambda: [m for m in world.discord.channel_messages(world.approvals) if f"#{signal_id} " in embed_text(m)]
    )
    assert len(msgs) == 1
    return int(msgs[0]["id"])


def card_posts(world: World) -> int:
    return len(world.discord.calls_to("POST", rf"^/channels/{world.approvals}/messages$"))


def card_edits(world: World, message_id: int) -> list[dict[str, object]]:
    return [c.body for c in world.discord.calls_to("PATCH", rf"^/channels/{world.approvals}/messages/{message_id}$")]


async def until_card(world: World, message_id: int, words: str) -> dict[str, object]:
    await world.discord.wait_for(lambda: words in embed_text(world.discord.messages[message_id]))
    return world.discord.messages[message_id]


async def test_card_is_posted_once_with_buttons_and_recorded(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    mid = await post_card(world, desk, 7)
    msg = world.discord.messages[mid]
    assert world.discord.custom_ids(msg) == ["sd:approve:7", "sd:edit:7", "sd:reject:7"]
    text = embed_text(msg)
    assert "Waiting for approval" in text and "<t:" in text and "At risk      610.00 ZAR" in text
    assert await world.discord.wait_for(lambda: desk.calls_of("record_card_message")) == [(7, world.approvals, mid)]
    post = world.discord.calls_to("POST", rf"^/channels/{world.approvals}/messages$")[0]
    assert post.body["nonce"] == "sdcard7" and post.body["enforce_nonce"] is True
    # The request also reaches the log channel, batched.
    await world.discord.wait_for(lambda: world.discord.channel_messages(world.log))
    assert "signal #7 for SA40_RSI_Bot awaits approval" in world.discord.channel_messages(world.log)[0]["content"]


async def test_approve_by_an_approver_decides_once_and_edits_the_card(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    mid = await post_card(world, desk, 7)
    click = await world.discord.click(mid, "sd:approve:7", world.alice)

    first = await click.first_response()
    assert first["type"] == 5 and first["data"]["flags"] & 64  # deferred, ephemeral thinking
    reply = await click.reply()
    assert is_ephemeral(reply) and reply["content"] == "✅ Signal #7 approved."

    [(signal_id, actor, edits)] = desk.calls_of("approve")
    assert (signal_id, actor.id, actor.name, actor.can_approve, edits) == (
        7,
        f"discord:{world.alice.id}",
        "alice",
        True,
        None,
    )

    msg = await until_card(world, mid, "Executed")
    assert "by alice" in embed_text(msg) and "filled 1 @ 53231" in embed_text(msg)
    assert msg["components"] == []  # buttons removed
    assert card_posts(world) == 1  # edited in place, never re-posted


async def test_approver_by_user_id_without_the_role(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    mid = await post_card(world, desk, 8)
    click = await world.discord.click(mid, "sd:approve:8", world.carol)
    assert (await click.reply())["content"] == "✅ Signal #8 approved."
    assert desk.calls_of("approve")[0][1].can_approve is True


async def test_non_approver_gets_a_private_refusal_and_nothing_changes(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    mid = await post_card(world, desk, 7)
    click = await world.discord.click(mid, "sd:approve:7", world.mallory)
    reply = await click.reply()
    assert is_ephemeral(reply)
    assert reply["content"] == "⛔ mallory may not approve: approvers only."
    [(_, actor, _)] = desk.calls_of("approve")
    assert actor.can_approve is False  # the Desk was asked, so it audited the refusal
    assert desk.audit == [(f"discord:{world.mallory.id}", "approve", False)]
    await runtime.sink.drain(5)
    assert card_edits(world, mid) == []
    assert world.discord.custom_ids(world.discord.messages[mid]) == ["sd:approve:7", "sd:edit:7", "sd:reject:7"]


async def test_double_click_decides_once(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    mid = await post_card(world, desk, 7)
    clicks = await asyncio.gather(
        world.discord.click(mid, "sd:approve:7", world.alice), world.discord.click(mid, "sd:approve:7", world.alice)
    )
    replies = sorted([(await c.reply())["content"] for c in clicks])
    assert replies == ["⚠️ Signal #7 was already executed by alice.", "✅ Signal #7 approved."]
    await until_card(world, mid, "Executed")
    await runtime.sink.drain(5)
    assert card_posts(world) == 1


async def reject_with(world: World, mid: int, signal_id: int, member: Member, reason: str = "") -> Any:
    """Reject through the card: the button opens the reason modal, submitted as given."""
    opened = await world.discord.click(mid, f"sd:reject:{signal_id}", member)
    return await world.discord.submit_modal(opened, member, {"reason": reason})


async def test_two_approvers_at_once_one_wins(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    mid = await post_card(world, desk, 7)
    a, b = await asyncio.gather(
        world.discord.click(mid, "sd:approve:7", world.alice), reject_with(world, mid, 7, world.bob)
    )
    outcomes = [(await a.reply())["content"], (await b.reply())["content"]]
    assert sum(o.startswith("✅") for o in outcomes) == 1
    assert sum(o.startswith("⚠️") and "already" in o for o in outcomes) == 1
    winner = desk.cards[7]
    await until_card(world, mid, winner.decided_by or "?")
    assert world.discord.messages[mid]["components"] == []


async def test_reject_closes_the_card(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    mid = await post_card(world, desk, 9)
    opened = await world.discord.click(mid, "sd:reject:9", world.bob)
    modal = await opened.first_response()
    assert modal["type"] == MODAL and modal["data"]["title"] == "Reject signal #9"
    click = await world.discord.submit_modal(opened, world.bob, {"reason": "  too close to the news\n"})
    assert (await click.reply())["content"] == "✅ Signal #9 rejected."
    msg = await until_card(world, mid, "Rejected")
    assert "by bob" in embed_text(msg) and msg["components"] == []
    assert desk.calls_of("approve") == []
    [(_, actor, reason)] = desk.calls_of("reject")
    assert (actor.name, reason) == ("bob", "  too close to the news\n")  # the Desk cleans it


async def test_expiry_edits_the_card(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    mid = await post_card(world, desk, 11)
    await desk.expire(11)
    msg = await until_card(world, mid, "Expired")
    assert "nothing was sent" in embed_text(msg) and msg["components"] == []


async def test_edit_opens_a_prefilled_modal_refuses_bad_values_and_applies_good_ones(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    mid = await post_card(world, desk, 7)
    opened = await world.discord.click(mid, "sd:edit:7", world.alice)
    modal = await opened.first_response()
    assert modal["type"] == MODAL
    inputs = {c["custom_id"]: c.get("value") for row in modal["data"]["components"] for c in row["components"]}
    assert inputs == {
        "quantity": "1",
        "order_type": "market",
        "limit_price": None,
        "stop_loss": "52600.5",
        "take_profit": "54150",
    }

    bad = await world.discord.submit_modal(opened, world.alice, {"quantity": "lots"})
    reply = await bad.reply()
    assert is_ephemeral(reply) and "Quantity must be a number above 0" in reply["content"]
    assert desk.calls_of("edit") == []

    # A submitted modal closes, as on Discord: each try starts with a click on Edit.
    opened = await world.discord.click(mid, "sd:edit:7", world.alice)
    bad_limit = await world.discord.submit_modal(opened, world.alice, {"order_type": "limit"})
    assert "A limit order needs a limit price" in (await bad_limit.reply())["content"]

    opened = await world.discord.click(mid, "sd:edit:7", world.alice)
    good = await world.discord.submit_modal(opened, world.alice, {"quantity": "2", "stop_loss": "52500"})
    assert (await good.reply())["content"] == "✅ Signal #7 edited; it waits for approval."
    [(signal_id, actor, edits)] = desk.calls_of("edit")
    assert signal_id == 7 and actor.name == "alice"
    assert edits == SignalEdits(quantity=2, stop_loss=Decimal("52500"))  # only what changed

    msg = await until_card(world, mid, "Edited by alice: quantity 2, stop 52,500")
    assert "Quantity     2 market" in embed_text(msg)
    assert world.discord.custom_ids(msg) == ["sd:approve:7", "sd:edit:7", "sd:reject:7"]  # still waiting

    approve = await world.discord.click(mid, "sd:approve:7", world.bob)
    assert (await approve.reply())["content"].startswith("✅")
    msg = await until_card(world, mid, "filled 2 @")
    assert card_posts(world) == 1


async def test_edit_by_a_non_approver_is_refused_before_any_modal(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    mid = await post_card(world, desk, 7)
    click = await world.discord.click(mid, "sd:edit:7", world.mallory)
    assert (await click.first_response())["type"] == 5
    assert (await click.reply())["content"] == "⛔ mallory may not edit: approvers only."
    assert desk.audit == [(f"discord:{world.mallory.id}", "edit", False)]


async def test_edit_of_a_decided_signal_says_so(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    mid = await post_card(world, desk, 7)
    await (await world.discord.click(mid, "sd:approve:7", world.alice)).reply()
    # A second member still sees the old card with its buttons (their client had not refreshed yet).
    world.discord.messages[mid]["components"] = [
        {"type": 1, "components": [{"type": 2, "style": 2, "label": "Edit", "custom_id": "sd:edit:7"}]}
    ]
    click = await world.discord.click(mid, "sd:edit:7", world.bob)
    reply = await click.reply()
    assert "no longer waiting for approval (executed)" in reply["content"] and is_ephemeral(reply)


async def test_a_slow_desk_still_answers_discord_in_time(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    desk.approve_delay = FIRST_RESPONSE_LIMIT + 0.5
    mid = await post_card(world, desk, 7)
    click = await world.discord.click(mid, "sd:approve:7", world.alice)
    await click.first_response()
    assert click.latency is not None and click.latency < FIRST_RESPONSE_LIMIT
    assert not click.replied.is_set()  # the answer itself waits for the Desk
    assert (await click.reply(within=10))["content"] == "✅ Signal #7 approved."


async def test_a_click_after_a_restart_still_works(world: World, desk: FakeDesk) -> None:
    first = await world.start(desk.use_cases())
    desk.notifier = first.sink
    mid = await post_card(world, desk, 21)
    await first.close()
    assert not first.is_connected()

    second = await world.start(desk.use_cases())
    desk.notifier = second.sink
    try:
        assert world.discord.identifies == 2
        click = await world.discord.click(mid, "sd:approve:21", world.alice)
        assert (await click.reply())["content"] == "✅ Signal #21 approved."
        # The new process found the card through the Desk and edited it; nothing re-posted.
        msg = await until_card(world, mid, "Executed")
        assert msg["components"] == []
        assert card_posts(world) == 1
    finally:
        await second.close()


async def test_a_repeated_approval_request_does_not_post_a_second_card(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    mid = await post_card(world, desk, 7)
    await desk.request_approval(desk.cards[7])
    await runtime.sink.drain(5)
    assert card_posts(world) == 1
    assert len(card_edits(world, mid)) == 1


async def test_a_lost_answer_to_the_card_post_does_not_post_it_twice(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    # Discord created the message but the answer was a 500: discord.py retries, and the
    # enforced nonce makes Discord return the same message.
    world.discord.fail("POST", rf"^/channels/{world.approvals}/messages$", 500, lost_answer=True)
    await desk.request_approval(make_card(7))
    await world.discord.wait_for(lambda: desk.calls_of("record_card_message"), within=10)
    assert len(world.discord.calls_to("POST", rf"^/channels/{world.approvals}/messages$")) == 1
    assert len(world.discord.channel_messages(world.approvals)) == 1


async def test_the_token_never_reaches_a_log_line(
    world: World, desk: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rt = await world.start(desk.use_cases())
    desk.notifier = rt.sink
    try:
        mid = await post_card(world, desk, 7)
        await (await world.discord.click(mid, "sd:approve:7", world.alice)).reply()
    finally:
        await rt.close()
    assert "logging in using static token" in caplog.text  # the capture did see the client
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(world.settings)
