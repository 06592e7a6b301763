"""The log and error channels: batching, Discord's limits, rate limits and server errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.discord.runtime import DiscordRuntime
from tests.e2e.discord_harness import World, discord_world
from tests.e2e.fake_desk import FakeDesk
from trading.domain.events import ExecutionFailed, Notice, OrderFilled, TradeClosed

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with discord_world() as w:
        yield w


@pytest.fixture
async def runtime(world: World) -> AsyncIterator[DiscordRuntime]:
    rt = await world.start(FakeDesk().use_cases(), batch_window=0.3)
    yield rt
    await rt.close()


def notice(i: int, width: int = 0) -> Notice:
    return Notice(at=datetime.now(UTC), message=f"line {i:04d}" + "x" * width)


def posted_lines(world: World, channel: int) -> list[str]:
    return [line for m in world.discord.channel_messages(channel) for line in m["content"].splitlines()]


async def test_a_burst_is_batched_in_order_and_nothing_is_dropped(world: World, runtime: DiscordRuntime) -> None:
    for i in range(300):
        await runtime.sink.publish(notice(i, width=20))
    # publish only enqueues: nothing has been sent when it returns.
    assert world.discord.calls_to("POST", rf"^/channels/{world.log}/messages$") == []
    assert await runtime.sink.drain(10)
    lines = posted_lines(world, world.log)
    assert [line.split(" ", 2)[2][:9] for line in lines] == [f"line {i:04d}" for i in range(300)]
    messages = world.discord.channel_messages(world.log)
    assert all(len(m["content"]) <= 2000 for m in messages)
    assert 300 * 40 // 2000 <= len(messages) <= 300 * 50 // 2000 + 2  # full messages, not one per line


async def test_info_to_log_and_errors_to_the_error_channel(world: World, runtime: DiscordRuntime) -> None:
    now = datetime.now(UTC)
    await runtime.sink.publish(
        OrderFilled(
            at=now,
            bot_name="B",
            signal_id=None,
            client_order_id="sd-1-0",
            symbol="SA40",
            side="buy",
            quantity=1,
            price=Decimal("53211"),
        )
    )
    await runtime.sink.publish(
        TradeClosed(
            at=now,
            bot_name="B",
            symbol="SA40",
            side="long",
            quantity=1,
            entry_price=Decimal("53211"),
            exit_price=Decimal("53480"),
            realized_pnl=Decimal("269"),
            currency="ZAR",
        )
    )
    await runtime.sink.publish(ExecutionFailed(at=now, bot_name="B", signal_id=None, reason="broker said @everyone no"))
    assert await runtime.sink.drain(10)
    [log] = world.discord.channel_messages(world.log)
    assert "filled buy 1 SA40 @ 53,211" in log["content"] and "53,211 → 53,480: +269.00 ZAR" in log["content"]
    [err] = world.discord.channel_messages(world.errors)
    assert (
        err["content"].startswith(f"<@&{world.error_role}>\n❌")
        and "failed: broker said @everyone no" in err["content"]
    )
    [post] = world.discord.calls_to("POST", rf"^/channels/{world.errors}/messages$")
    assert post.body["allowed_mentions"]["parse"] == []  # the alert's "@everyone" pings nobody


async def test_rate_limits_are_waited_out(world: World, runtime: DiscordRuntime) -> None:
    # discord.py gives up at once on a 429 without "Via" (it takes it for a ban); the sink
    # then waits retry_after itself. With "Via", discord.py waits and retries on its own.
    world.discord.fail("POST", rf"^/channels/{world.log}/messages$", 429, retry_after=0.4, via=False)
    world.discord.fail("POST", rf"^/channels/{world.log}/messages$", 429, retry_after=0.3, via=True)
    await runtime.sink.publish(notice(1))
    assert await runtime.sink.drain(10)
    attempts = [c for c in world.discord.calls if c.method == "POST" and c.path == f"/channels/{world.log}/messages"]
    assert [c.status for c in attempts] == [429, 429, 200]
    assert attempts[1].at - attempts[0].at >= 0.4
    assert attempts[2].at - attempts[1].at >= 0.3
    assert len(posted_lines(world, world.log)) == 1


async def test_server_errors_are_retried_until_sent(world: World, runtime: DiscordRuntime) -> None:
    world.discord.fail("POST", rf"^/channels/{world.errors}/messages$", 503, times=2)
    await runtime.sink.publish(ExecutionFailed(at=datetime.now(UTC), bot_name="B", signal_id=None, reason="boom"))
    assert await runtime.sink.drain(15)
    statuses = [c.status for c in world.discord.calls if c.path == f"/channels/{world.errors}/messages"]
    assert statuses == [503, 503, 200]
    assert len(world.discord.channel_messages(world.errors)) == 1


async def test_a_line_longer_than_a_message_is_cut_not_lost(world: World, runtime: DiscordRuntime) -> None:
    await runtime.sink.publish(notice(1, width=2500))
    await runtime.sink.publish(notice(2))
    assert await runtime.sink.drain(10)
    lines = posted_lines(world, world.log)
    assert len(lines) == 2 and lines[0].endswith("…") and lines[1].endswith("line 0002")
    assert all(len(m["content"]) <= 2000 for m in world.discord.channel_messages(world.log))
