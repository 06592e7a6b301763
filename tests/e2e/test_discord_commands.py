"""Slash commands end to end: each command's answer and its permission rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.discord.runtime import DiscordRuntime
from tests.e2e.discord_harness import World, fake_desk_runtime, timed_discord_world
from tests.e2e.fake_desk import FakeDesk, make_card, sample_position
from tests.e2e.fake_discord import Member, embed_text, is_ephemeral
from tests.support.clock import FixedClock
from trading.domain.values import Mode

pytestmark = pytest.mark.timeout(60)
NOW = datetime(2024, 3, 7, 15, 30, tzinfo=UTC)

EXPECTED = {
    "positions",
    "trades",
    "pnl",
    "bots",
    "signal",
    "close",
    "order",
    "cancel",
    "halt",
    "pause",
    "resume",
    "mode",
    "resume-all",
    "edge",
    "pause-account",
    "resume-account",
}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


@pytest.fixture
async def desk() -> FakeDesk:
    return FakeDesk()


@pytest.fixture
async def runtime(world: World, desk: FakeDesk) -> AsyncIterator[DiscordRuntime]:
    async with fake_desk_runtime(world, desk, FixedClock(NOW)) as rt:
        yield rt


async def test_commands_are_synced_to_the_guild(world: World, runtime: DiscordRuntime) -> None:
    assert set(world.discord.commands) == EXPECTED
    [sync] = world.discord.calls_to("PUT", rf"^/applications/\d+/guilds/{world.discord.guild_id}/commands$")
    assert {c["name"] for c in sync.body} == EXPECTED
    mode = world.discord.commands["mode"]
    [_, mode_opt] = mode["options"]
    assert [c["value"] for c in mode_opt["choices"]] == ["auto", "approve"]


async def test_positions_for_anyone(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    desk.position_list = [sample_position()]
    rec = await world.discord.slash("positions", world.mallory, world.approvals)
    assert (await rec.first_response())["type"] == 5  # deferred: quotes may take a while
    reply = await rec.reply()
    assert not is_ephemeral(reply)
    text = embed_text(reply)
    assert "SA40_RSI_Bot  SA40  long" in text and "+179.00" in text and "Unrealized total: **+179.00 ZAR**" in text
    assert desk.calls_of("positions") == [(None, None)]

    rec = await world.discord.slash("positions", world.alice, world.approvals, bot="Other")
    assert "No open positions." in embed_text(await rec.reply())
    assert desk.calls_of("positions")[-1] == ("Other", None)

    rec = await world.discord.slash("positions", world.alice, world.approvals, account="prop")
    assert "No open positions." in embed_text(await rec.reply())  # the sample is held on Paper, not prop
    assert desk.calls_of("positions")[-1] == (None, "prop")


async def test_trades_with_limit(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    rec = await world.discord.slash("trades", world.mallory, world.approvals, bot="SA40_RSI_Bot", limit=5)
    assert "No closed trades yet." in embed_text(await rec.reply())
    assert desk.calls_of("trades") == [("SA40_RSI_Bot", 5)]


async def test_pnl_period(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    rec = await world.discord.slash("pnl", world.mallory, world.approvals, period="week")
    text = embed_text(await rec.reply())
    assert "P&L · all bots · this week" in text and "Realized       +1,250.50 ZAR" in text
    # The week of the client's clock (a Thursday), not of the wall clock's.
    assert desk.calls_of("pnl") == [(None, datetime(2024, 3, 4, tzinfo=UTC), None)]
    await (await world.discord.slash("pnl", world.mallory, world.approvals, period="all", account="prop")).reply()
    assert desk.calls_of("pnl")[-1] == (None, None, "prop")


async def test_bots_and_signal(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    text = embed_text(await (await world.discord.slash("bots", world.mallory, world.approvals)).reply())
    assert "SA40_RSI_Bot  SA40  Paper   approve  on" in text

    desk.cards[12] = make_card(12)
    text = embed_text(await (await world.discord.slash("signal", world.mallory, world.approvals, id=12)).reply())
    assert "Signal #12 · SA40_RSI_Bot" in text and "Waiting for approval" in text
    text = embed_text(await (await world.discord.slash("signal", world.mallory, world.approvals, id=404)).reply())
    assert text == "No signal #404."


@pytest.mark.parametrize(
    ("command", "options", "desk_method", "expected_args", "answer"),
    [
        ("pause", {"bot": "SA40_RSI_Bot", "reason": "news"}, "pause", ("SA40_RSI_Bot", "news"), "SA40_RSI_Bot paused."),
        ("resume", {"bot": "SA40_RSI_Bot"}, "resume", ("SA40_RSI_Bot",), "SA40_RSI_Bot resumed."),
        ("mode", {"bot": "SA40_RSI_Bot", "mode": "auto"}, "set_mode", ("SA40_RSI_Bot", Mode.AUTO), "auto mode"),
        ("resume-all", {}, "resume_all", (), "Trading resumed."),
        (
            "pause-account",
            {"account": "prop", "reason": "margin call"},
            "pause_account",
            ("prop", "margin call"),
            "account prop paused.",
        ),
        ("resume-account", {"account": "prop"}, "resume_account", ("prop",), "account prop resumed."),
    ],
)
async def test_approver_commands_and_their_permission_rule(
    world: World,
    desk: FakeDesk,
    runtime: DiscordRuntime,
    command: str,
    options: dict[str, str],
    desk_method: str,
    expected_args: tuple[object, ...],
    answer: str,
) -> None:
    def args_without_actor(call: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(a for a in call if not hasattr(a, "can_approve"))

    # An approver: done, answered in the channel for the team to see.
    rec = await world.discord.slash(command, world.alice, world.approvals, **options)
    reply = await rec.reply()
    assert reply["content"].startswith("✅") and answer in reply["content"] and not is_ephemeral(reply)
    [call] = desk.calls_of(desk_method)
    assert args_without_actor(call) == expected_args
    # Anyone else: refused privately by the Desk, which audits it.
    rec = await world.discord.slash(command, world.mallory, world.approvals, **options)
    reply = await rec.reply()
    assert is_ephemeral(reply) and reply["content"].startswith("⛔ mallory may not")
    assert desk.audit[-1] == (f"discord:{world.mallory.id}", desk.audit[-1][1], False)


async def confirm_flow(world: World, command: str, member: Member, **options: str) -> tuple[dict, int]:  # type: ignore[type-arg]
    rec = await world.discord.slash(command, member, world.approvals, **options)
    question = await rec.reply()
    return question, int(question["id"])


async def test_close_asks_to_confirm_and_only_the_asker_may(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    question, mid = await confirm_flow(world, "close", world.alice, bot="SA40_RSI_Bot")
    assert "Close the whole **SA40_RSI_Bot** position at market?" in question["content"]
    confirm_id, _ = world.discord.custom_ids(question)
    assert desk.calls_of("close_position") == []

    other = await world.discord.click(mid, confirm_id, world.bob)
    reply = await other.reply()
    assert is_ephemeral(reply) and "Only the member who asked" in reply["content"]
    assert desk.calls_of("close_position") == []

    yes = await world.discord.click(mid, confirm_id, world.alice)
    assert (await yes.first_response())["type"] == 6  # deferred update of the question
    await world.discord.wait_for(lambda: world.discord.messages[mid]["content"].startswith("✅"))
    assert world.discord.messages[mid]["content"] == "✅ Closing SA40_RSI_Bot: signal #99 queued."
    assert world.discord.messages[mid]["components"] == []
    [(bot, actor, account)] = desk.calls_of("close_position")
    assert bot == "SA40_RSI_Bot" and actor.can_approve and actor.name == "alice" and account is None


async def test_close_on_one_account_says_so_and_passes_it(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    question, mid = await confirm_flow(world, "close", world.alice, bot="SA40_RSI_Bot", account="prop")
    assert "Close the whole **SA40_RSI_Bot** position on account **prop** at market?" in question["content"]
    confirm_id, _ = world.discord.custom_ids(question)
    await (await world.discord.click(mid, confirm_id, world.alice)).first_response()
    await world.discord.wait_for(lambda: world.discord.messages[mid]["content"].startswith("✅"))
    [(bot, _actor, account)] = desk.calls_of("close_position")
    assert (bot, account) == ("SA40_RSI_Bot", "prop")


async def test_close_cancelled_does_nothing(world: World, desk: FakeDesk, runtime: DiscordRuntime) -> None:
    question, mid = await confirm_flow(world, "close", world.alice, bot="SA40_RSI_Bot")
    _, cancel_id = world.discord.custom_ids(question)
    no = await world.discord.click(mid, cancel_id, world.alice)
    assert (await no.reply())["content"] == "Cancelled: closing SA40_RSI_Bot was not done."
    assert desk.calls_of("close_position") == []


async def test_close_by_a_non_approver_is_refused_without_a_question(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    rec = await world.discord.slash("close", world.mallory, world.approvals, bot="SA40_RSI_Bot")
    reply = await rec.reply()
    assert is_ephemeral(reply) and reply["content"] == "⛔ mallory may not close: approvers only."
    assert world.discord.custom_ids(reply) == []


async def test_halt_confirmed_reaches_the_error_channel_with_the_role_mention(
    world: World, desk: FakeDesk, runtime: DiscordRuntime
) -> None:
    question, mid = await confirm_flow(world, "halt", world.carol, reason="flash crash")
    confirm_id, _ = world.discord.custom_ids(question)
    await world.discord.click(mid, confirm_id, world.carol)
    await world.discord.wait_for(lambda: world.discord.messages[mid]["content"] == "✅ Trading halted.")
    [(actor, reason)] = desk.calls_of("halt")
    assert actor.name == "carol" and reason == "flash crash"

    [line] = await world.discord.wait_for(lambda: world.discord.channel_messages(world.errors))
    assert line["content"].startswith(f"<@&{world.error_role}>\n🛑")
    assert "trading HALTED by carol: flash crash" in line["content"]
    [post] = world.discord.calls_to("POST", rf"^/channels/{world.errors}/messages$")
    assert post.body["allowed_mentions"] == {"parse": [], "roles": [world.error_role]}

    text = embed_text(await (await world.discord.slash("bots", world.mallory, world.approvals)).reply())
    assert "Trading is HALTED** by carol: flash crash" in text
