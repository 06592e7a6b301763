"""Trading windows through the services: an entry outside is refused with the reason (the
signal's, the event's), a close runs, and the monitor flattens a position held at the end."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.service_rig import Rig
from trading.domain.events import Notice, SignalRefused
from trading.domain.signals import SignalAction, SignalSource, SignalState

HOURS = {"trading_hours": ["Mon-Fri 08:00-16:30"], "trading_timezone": "Africa/Johannesburg"}
OUTSIDE = "outside trading hours Mon-Fri 08:00-16:30 Africa/Johannesburg"
MONDAY_NOON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 12:00 in Johannesburg
MONDAY_EVENING = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 16:30 there: the window's end


async def test_an_entry_outside_is_refused_with_the_reason_and_a_close_runs(rig: Rig) -> None:
    bot = await rig.bot(**HOURS)
    rig.clock.t = MONDAY_NOON
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED

    rig.clock.t = MONDAY_EVENING
    late = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(late) is SignalState.REFUSED
    assert (await rig.stored(late)).reason == OUTSIDE
    assert [e.reason for e in rig.published(SignalRefused)] == [OUTSIDE]

    close = await rig.signal(bot, SignalAction.CLOSE)
    assert await rig.run(close) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat


async def test_the_monitor_flattens_a_position_held_at_the_windows_end_once(rig: Rig) -> None:
    bot = await rig.bot(flatten_at_window_end=True, **HOURS)
    rig.clock.t = MONDAY_NOON
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    assert await rig.use_cases.monitors.check_exits() == []  # inside: held

    rig.clock.t = MONDAY_EVENING
    (made,) = await rig.use_cases.monitors.check_exits()
    assert await rig.use_cases.monitors.check_exits() == []  # one close, not one a pass
    exit_signal = await rig.stored(made)
    assert (exit_signal.signal.action, exit_signal.signal.source) == (SignalAction.CLOSE, SignalSource.MONITOR)
    assert rig.published(Notice)[-1].message == f"SA40_RSI_Bot: trading window ended ({OUTSIDE}); closing"
    assert await rig.run(made) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    assert await rig.use_cases.monitors.check_exits() == []


async def test_without_flatten_the_position_is_kept_past_the_end(rig: Rig) -> None:
    bot = await rig.bot(**HOURS)
    rig.clock.t = MONDAY_NOON
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    rig.clock.t = MONDAY_EVENING
    assert await rig.use_cases.monitors.check_exits() == []
    assert not (await rig.position(bot)).is_flat
