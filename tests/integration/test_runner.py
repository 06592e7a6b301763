"""The runner over a real database: a bot's signals one at a time in arrival order, through
broker outages and retries; nothing committed is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.support.fake_broker import FakeBroker
from tests.support.service_rig import Rig, make_rig
from trading.domain.events import PositionMismatch
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import OrderSide
from trading.services.alerts_first import AlertsFirst
from trading.services.runner import Runner, RunnerOptions

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def runner_rig(database) -> AsyncIterator[tuple[Rig, Runner]]:  # type: ignore[no-untyped-def]
    options = RunnerOptions(
        sweep_interval=0.2, monitor_interval=3600, reconcile_interval=3600, expiry_interval=3600, max_retry_delay=0.3
    )
    rig = make_rig(database, runner=options)
    runner = rig.runner
    await runner.start()
    yield rig, runner
    await runner.stop(1)


async def settle(rig: Rig, ids: list[int], within: float = 20.0) -> list[SignalState]:
    async with asyncio.timeout(within):
        while True:
            states = [await rig.state(i) for i in ids]
            if all(s.is_final for s in states):
                return states
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("outage", [2.0, 4.0, 8.0])
async def test_an_entry_waiting_out_an_outage_keeps_its_place_before_the_close(
    runner_rig: tuple[Rig, Runner], outage: float
) -> None:
    rig, runner = runner_rig
    bot = await rig.bot()
    rig.broker.faults.down = True
    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    runner.wake_bot(bot)
    await asyncio.sleep(0.5)
    close = await rig.signal(bot, SignalAction.CLOSE_LONG)
    runner.wake_bot(bot)
    await asyncio.sleep(outage - 0.5)
    assert rig.broker.book == {}  # nothing went through while it was down
    rig.broker.faults.down = False

    assert await settle(rig, [entry, close]) == [SignalState.EXECUTED, SignalState.EXECUTED]
    sides = [(o.client_order_id, o.side) for o in rig.broker.book.values()]
    assert sides == [(f"sd-{entry}-1", OrderSide.BUY), (f"sd-{close}-1", OrderSide.SELL)]
    assert rig.broker.net.get("SA40", 0) == 0
    assert (await rig.position(bot)).is_flat


async def test_signals_run_in_arrival_order_whichever_is_woken_first(runner_rig: tuple[Rig, Runner]) -> None:
    rig, runner = runner_rig
    bot = await rig.bot(allow_pyramiding=False, max_positions=1)
    ids = [await rig.signal(bot, SignalAction.ENTER_LONG if n % 2 == 0 else SignalAction.CLOSE_LONG) for n in range(8)]
    for _ in ids:
        runner.wake_bot(bot)
    assert await settle(rig, ids) == [SignalState.EXECUTED] * len(ids)
    placed = [o.client_order_id for o in rig.broker.book.values()]
    assert placed == [f"sd-{i}-1" for i in ids]
    assert (await rig.position(bot)).is_flat


async def test_an_entry_that_waited_past_its_age_is_refused_but_the_close_goes(
    runner_rig: tuple[Rig, Runner],
) -> None:
    rig, runner = runner_rig
    bot = await rig.bot(max_signal_age_seconds=30)
    opened = await rig.signal(bot, SignalAction.ENTER_LONG)
    runner.wake_bot(bot)
    assert await settle(rig, [opened]) == [SignalState.EXECUTED]

    rig.broker.faults.down = True
    late_entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    close = await rig.signal(bot, SignalAction.CLOSE_LONG)
    runner.wake_bot(bot)
    await asyncio.sleep(0.5)
    rig.clock.t += timedelta(seconds=60)  # the outage outlasts the bot's max_signal_age_seconds
    rig.broker.faults.down = False

    assert await settle(rig, [late_entry, close]) == [SignalState.REFUSED, SignalState.EXECUTED]
    async with rig.db.uow() as uow:
        refused = await uow.signals.get(late_entry)
    assert refused is not None and refused.reason is not None and "stale" in refused.reason
    assert "max_signal_age_seconds" in refused.reason
    assert [o.client_order_id for o in rig.broker.book.values()] == [f"sd-{opened}-1", f"sd-{close}-1"]
    assert (await rig.position(bot)).is_flat


async def test_a_signal_committed_without_a_wake_is_found_by_the_sweep(runner_rig: tuple[Rig, Runner]) -> None:
    rig, _runner = runner_rig
    bot = await rig.bot()
    stranded = await rig.signal(bot, SignalAction.ENTER_LONG)  # nobody wakes the runner
    assert await settle(rig, [stranded], within=3.0) == [SignalState.EXECUTED]


async def test_a_close_the_broker_says_would_not_reduce_is_reconciled_at_once(
    runner_rig: tuple[Rig, Runner],
) -> None:
    rig, runner = runner_rig
    bot = await rig.bot()
    opened = await rig.signal(bot, SignalAction.ENTER_LONG)
    runner.wake_bot(bot)
    assert await settle(rig, [opened]) == [SignalState.EXECUTED]
    rig.broker.net["SA40"] = 0  # the broker lost the position (as the simulator did)

    close = await rig.signal(bot, SignalAction.CLOSE_LONG)
    runner.wake_bot(bot)
    assert await settle(rig, [close]) == [SignalState.FAILED]

    async def flagged() -> list[PositionMismatch]:
        while True:
            found = [e for e in rig.events if isinstance(e, PositionMismatch) and e.source == "broker"]
            if found:
                return found
            await asyncio.sleep(0.02)

    async with asyncio.timeout(1.0):  # not the five-minute reconciliation interval
        mismatch = (await flagged())[0]
    assert (mismatch.ours, mismatch.theirs) == (1, 0)
    async with rig.db.uow() as uow:
        flagged_bot = await uow.bots.get(bot)
    assert flagged_bot is not None and flagged_bot.needs_attention


class _SlowBroker(FakeBroker):
    """Each order takes a while; counts how many are in flight at once."""

    in_flight: int = 0
    most: int = 0

    async def place_order(self, request):  # type: ignore[no-untyped-def]
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.3)
            return await super().place_order(request)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize(("bound", "expected"), [(None, 12), (3, 3)])
async def test_bots_execute_side_by_side_up_to_the_bound(database, bound: int | None, expected: int) -> None:  # type: ignore[no-untyped-def]
    broker = _SlowBroker()
    options = RunnerOptions(sweep_interval=0.2, monitor_interval=3600, reconcile_interval=3600)
    if bound is not None:
        options = replace(options, max_active_bots=bound)
    rig = make_rig(database, broker, runner=options)
    runner = rig.runner
    bots = [await rig.bot(bot_name=f"B{n}", webhook_key=f"key_{n}_50849a3c", symbol=f"S{n}") for n in range(12)]
    ids = [await rig.signal(bot, SignalAction.ENTER_LONG) for bot in bots]
    await runner.start()
    try:
        assert await settle(rig, ids) == [SignalState.EXECUTED] * len(ids)
    finally:
        await runner.stop(1)
    # No fixed worker count: every bot's order was at the broker at once, unless bounded.
    assert broker.most == expected


def quiet(**options: Any) -> RunnerOptions:
    """A runner whose periodic duties stay out of the way."""
    return RunnerOptions(monitor_interval=3600, reconcile_interval=3600, **options)


@asynccontextmanager
async def quiet_runner(rig: Rig) -> AsyncIterator[Runner]:
    """The rig's runner, started (the rig was built with its options)."""
    runner = rig.runner
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop(1)


async def test_a_lane_takes_its_signal_only_once_the_intake_has_answered(database) -> None:  # type: ignore[no-untyped-def]
    gate = AlertsFirst(settle=0, at_most=3600)
    rig = make_rig(database, runner=quiet(alerts_first=gate))
    async with quiet_runner(rig) as runner:
        bot = await rig.bot()
        with gate.holding():  # an alert the intake is still storing or answering
            entry = await rig.signal(bot, SignalAction.ENTER_LONG)
            runner.wake_bot(bot)
            await asyncio.sleep(0.3)
            assert await rig.state(entry) == SignalState.RECEIVED
            assert rig.broker.book == {}
        assert await settle(rig, [entry]) == [SignalState.EXECUTED]


async def test_a_lane_under_a_never_quiet_intake_still_runs(database) -> None:  # type: ignore[no-untyped-def]
    gate = AlertsFirst(settle=0, at_most=0.05)
    rig = make_rig(database, runner=quiet(alerts_first=gate))
    async with quiet_runner(rig) as runner:
        bot = await rig.bot()
        with gate.holding():
            ids = [await rig.signal(bot, a) for a in (SignalAction.ENTER_LONG, SignalAction.CLOSE_LONG)]
            runner.wake_bot(bot)
            assert await settle(rig, ids) == [SignalState.EXECUTED, SignalState.EXECUTED]


class _Follower:
    """A cluster in which this process follows until told it leads."""

    def __init__(self) -> None:
        self.is_leader = False
        self.shared = True

    async def take_lane(self, bot_id: int) -> bool:
        return True

    async def release_lane(self, bot_id: int) -> None:
        pass


async def test_a_follower_runs_lanes_and_the_sweep_but_not_the_leaders_duties(sqlite_database) -> None:  # type: ignore[no-untyped-def]
    cluster = _Follower()
    trimmed = asyncio.Event()

    async def trim() -> None:
        trimmed.set()

    options = quiet(sweep_interval=0.05, housekeeping=[("webhook-log-trim", 0.05, trim)], cluster=cluster)
    rig = make_rig(sqlite_database, runner=options)
    runner = rig.runner
    await runner.start()
    try:
        bot = await rig.bot()
        entry = await rig.signal(bot, SignalAction.ENTER_LONG)  # nobody wakes it: the sweep finds it
        assert await settle(rig, [entry]) == [SignalState.EXECUTED]
        assert not trimmed.is_set()
        cluster.is_leader = True  # the leader died; this process took over
        async with asyncio.timeout(5):
            await trimmed.wait()
    finally:
        await runner.stop(1)


class _HeldElsewhere(_Follower):
    """A cluster in which another process holds every bot's lane until `let_go`."""

    def __init__(self) -> None:
        super().__init__()
        self.held_elsewhere = True
        self.asked = 0
        self.asked_thrice = asyncio.Event()

    async def take_lane(self, bot_id: int) -> bool:
        self.asked += 1
        if self.asked >= 3:
            self.asked_thrice.set()
        return not self.held_elsewhere


async def test_a_lane_another_process_held_is_run_here_once_it_lets_go(sqlite_database) -> None:  # type: ignore[no-untyped-def]
    cluster = _HeldElsewhere()
    rig = make_rig(sqlite_database, runner=quiet(sweep_interval=0.05, expiry_interval=3600, cluster=cluster))
    runner = rig.runner
    await runner.start()
    try:
        bot = await rig.bot()
        entry = await rig.signal(bot, SignalAction.ENTER_LONG)
        runner.wake_bot(bot)
        async with asyncio.timeout(5):
            await cluster.asked_thrice.wait()  # refused, and asked again by the sweeps
        assert await rig.state(entry) == SignalState.RECEIVED
        cluster.held_elsewhere = False  # that process died or let go without running it
        assert await settle(rig, [entry]) == [SignalState.EXECUTED]
    finally:
        await runner.stop(1)
