"""A person's own orders and resting orders end to end: /order with its confirm card, /cancel,
the order timeout and a cancel racing a fill, with the real Desk and runner, the Herenya
client against the simulator, and the discord.py client against the fake Discord."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.discord_harness import DeskWorld, World, desk_world, timed_discord_world
from tests.e2e.fake_discord import embed_text, is_ephemeral

pytestmark = pytest.mark.timeout(90)

BOT = "SA40_RSI_Bot"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


@pytest.fixture
async def desk(world: World, tmp_path: Path) -> AsyncIterator[DeskWorld]:
    # No slippage check: a limit far from the market is what these tests rest at the broker.
    async with desk_world(world, tmp_path / "desk.db", max_slippage_pct=None) as d:
        yield d


def ask(d: DeskWorld) -> Decimal:
    return Decimal(d.sim.state.quote("SA40")["ask"])


async def state_of(d: DeskWorld, signal_id: int) -> str:
    view = await d.app.use_cases.queries.signal_view(signal_id)
    assert view is not None
    return view.signal.state.value


async def until_state(d: DeskWorld, signal_id: int, state: str, within: float = 20) -> None:
    """Wait for the runner to move the signal to `state`."""
    for _ in range(int(within / 0.1)):
        if await state_of(d, signal_id) == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"signal #{signal_id} is {await state_of(d, signal_id)}, not {state}")


async def place(d: DeskWorld, **options: Any) -> tuple[int, dict[str, Any]]:
    """/order by alice, confirmed: (signal id, the question message as it ends)."""
    w = d.world
    rec = await w.discord.slash("order", w.alice, w.approvals, bot=BOT, **options)
    question = await rec.reply(within=10)
    mid = int(question["id"])
    confirm_id, _cancel_id = w.discord.custom_ids(question)
    await w.discord.click(mid, confirm_id, w.alice)
    await w.discord.wait_for(lambda: w.discord.messages[mid]["content"].startswith("✅"), within=10)
    done = w.discord.messages[mid]
    found = re.search(r"signal #(\d+)", done["content"])
    assert found, done["content"]
    return int(found.group(1)), done


async def test_order_shows_the_plan_then_places_a_manual_signal_through_the_engine(desk: DeskWorld) -> None:
    w = desk.world
    stop = ask(desk) - 500
    rec = await w.discord.slash("order", w.alice, w.approvals, bot=BOT, side="buy", quantity=2, stop=str(stop))
    assert (await rec.first_response())["type"] == 5  # deferred: the plan reads a quote
    question = await rec.reply(within=10)
    text = embed_text(question)
    assert f"Place this order? (buy 2 market, stop {stop})" in text
    assert f"New order · {BOT} · open" in text and "Position  flat → long 2 @" in text
    assert f"Stop      {stop:,f}" in text and "At risk   1,000.00 ZAR" in text
    assert desk.sim.state.book()["orders"] == []  # nothing before the confirm

    sid, done = await place(desk, side="buy", quantity=2, stop=str(stop))
    assert done["content"] == f"✅ order queued as signal #{sid}: open buy 2 market, stop {stop}"
    assert done["components"] == [] and "New order" in embed_text(done)  # the plan stays, the buttons go
    await until_state(desk, sid, "executed")
    [order] = desk.orders(sid)
    assert (order["side"], order["quantity"], order["status"]) == ("BUY", 2, "FILLED")
    view = await desk.app.use_cases.queries.signal_view(sid)
    assert view is not None and view.signal.signal.source.value == "manual"
    assert view.signal.history[0].cause == f"discord:{w.alice.id}"
    [pos] = await desk.app.use_cases.queries.positions(BOT)
    assert (pos.quantity, pos.stop_loss) == (2, stop)
    # The first question was never confirmed: one order only.
    assert len(desk.sim.state.book()["orders"]) == 1


async def test_order_refusals_on_discord(desk: DeskWorld) -> None:
    w = desk.world
    rec = await w.discord.slash("order", w.mallory, w.approvals, bot=BOT, side="buy", quantity=1)
    reply = await rec.reply(within=10)
    assert is_ephemeral(reply) and reply["content"] == "⛔ mallory may not place orders: approvers only"
    assert w.discord.custom_ids(reply) == []

    wrong = ask(desk) + 100
    rec = await w.discord.slash("order", w.alice, w.approvals, bot=BOT, side="buy", quantity=1, stop=str(wrong))
    reply = await rec.reply(within=10)
    assert reply["content"].startswith(f"⛔ stop_loss is {wrong}; a long stop must be below the price")
    assert w.discord.custom_ids(reply) == []

    rec = await w.discord.slash("order", w.alice, w.approvals, bot=BOT, side="buy", quantity=1, stop="cheap")
    reply = await rec.reply(within=10)
    assert is_ephemeral(reply) and reply["content"] == "⛔ Stop must be a number, not 'cheap'. Nothing was placed."
    assert desk.sim.state.book()["orders"] == []


async def resting(d: DeskWorld, quantity: int = 2) -> tuple[int, str, Decimal]:
    limit = ask(d) - 1000  # far under the market: it rests
    sid, _ = await place(d, side="buy", quantity=quantity, type="limit", limit_price=str(limit))
    await d.world.discord.wait_for(lambda: d.orders(sid), within=10)
    [order] = d.orders(sid)
    assert order["status"] == "NEW"
    assert await state_of(d, sid) == "executing"
    return sid, order["client_order_id"], limit


async def test_an_unfilled_limit_order_is_cancelled_at_its_timeout_and_the_signal_expires(desk: DeskWorld) -> None:
    w = desk.world
    sid, cid, _ = await resting(desk)
    desk.clock.offset = timedelta(seconds=301)  # past the default order_timeout_seconds
    await until_state(desk, sid, "expired")
    [order] = desk.orders(sid)
    assert order["status"] == "CANCELED"
    view = await desk.app.use_cases.queries.signal_view(sid)
    assert view is not None
    assert (
        view.signal.reason == f"order {cid} (open buy 2) timed out after 300 s (order_timeout_seconds): nothing filled"
    )
    assert view.signal.history[-1].cause == "timeout"
    assert [p.quantity for p in await desk.app.use_cases.queries.positions(BOT)] == [0]  # asked by name: shown flat
    await w.discord.wait_for(
        lambda: "timed out" in "".join(m["content"] for m in w.discord.channel_messages(w.log)), within=10
    )


async def test_cancel_a_resting_order_from_discord(desk: DeskWorld) -> None:
    w = desk.world
    sid, cid, _ = await resting(desk)
    refused = await (await w.discord.slash("cancel", w.mallory, w.approvals, order=cid)).reply(within=10)
    assert is_ephemeral(refused) and refused["content"] == "⛔ mallory may not cancel orders: approvers only"

    reply = await (await w.discord.slash("cancel", w.bob, w.approvals, order=cid)).reply(within=10)
    assert not is_ephemeral(reply)
    assert reply["content"] == f"✅ order {cid} cancelled: 0 of 2 filled; signal #{sid} canceled"
    [order] = desk.orders(sid)
    assert order["status"] == "CANCELED"
    view = await desk.app.use_cases.queries.signal_view(sid)
    assert view is not None and view.signal.history[-1].cause == f"discord:{w.bob.id}"


async def test_a_cancel_that_races_a_fill_at_the_simulator_ends_with_the_brokers_fill(
    desk: DeskWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = desk.world
    sid, cid, limit = await resting(desk, quantity=3)
    sim = desk.sim.state
    cancel = sim.cancel_order

    def filled_first(account_id: str, order_id: str) -> dict[str, Any]:
        # Between our decision and the cancel reaching the broker, the market trades through the limit.
        sim.set_quote("SA40", limit - 1, limit)
        return cancel(account_id, order_id)

    monkeypatch.setattr(sim, "cancel_order", filled_first)
    reply = await (await w.discord.slash("cancel", w.alice, w.approvals, order=cid)).reply(within=10)
    assert reply["content"].startswith(f"⚠️ too late: order {cid} was already filled at the broker (3 of 3 filled @ ")
    assert reply["content"].endswith(f"; signal #{sid} executed")
    [order] = desk.orders(sid)
    assert (order["status"], order["filled_quantity"]) == ("FILLED", 3)
    [pos] = await desk.app.use_cases.queries.positions(BOT)
    [held] = sim.positions_view("A1")["positions"]
    assert pos.quantity == held["quantity"] == 3
    assert pos.average_price == Decimal(held["average_price"]) == limit
