"""The caps through the services: trades a day refused with "N of N trades today", the
account's money at risk to the stops, and the daily loss that flattens and pauses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.support.service_rig import Rig
from trading.domain.events import BotStateChanged, Notice, SignalRefused
from trading.domain.signals import SignalAction, SignalSource, SignalState


async def test_entries_beyond_max_trades_per_day_are_refused_until_the_next_day(rig: Rig) -> None:
    bot = await rig.bot(max_trades_per_day=2)
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED  # an add
    assert await rig.run(await rig.signal(bot, SignalAction.CLOSE)) is SignalState.EXECUTED  # not an entry

    third = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(third) is SignalState.REFUSED
    assert (await rig.stored(third)).reason == "2 of 2 trades today (max_trades_per_day)"
    assert rig.published(SignalRefused)[-1].reason == "2 of 2 trades today (max_trades_per_day)"

    rig.clock.t += timedelta(days=1)
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED


async def test_an_entry_that_would_put_too_much_at_risk_on_the_account_is_refused(rig: Rig) -> None:
    other = await rig.bot(bot_name="Other", webhook_key="other_key_0001", stop_loss_pct="1")
    assert await rig.run(await rig.signal(other, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    capped = await rig.bot(max_open_risk="800", stop_loss_pct="1")
    entry = await rig.signal(capped, SignalAction.ENTER_LONG)
    assert await rig.run(entry) is SignalState.REFUSED
    reason = (await rig.stored(entry)).reason or ""
    # Each long 1 at 53,211 with a 1% stop risks 532.10 (the stop on the 0.5 tick, rounded toward the entry).
    assert reason.startswith("open risk on account Paper would be 1,064."), reason
    assert "above max_open_risk 800" in reason

    roomy = await rig.bot(bot_name="Roomy", webhook_key="roomy_key_0001", max_open_risk="1100", stop_loss_pct="1")
    assert await rig.run(await rig.signal(roomy, SignalAction.ENTER_LONG)) is SignalState.EXECUTED


async def test_the_daily_loss_flattens_the_open_position_and_pauses_the_bot(rig: Rig) -> None:
    bot = await rig.bot(max_daily_loss="100", flatten_on_daily_loss=True)
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    average = (await rig.position(bot)).average_price
    assert average == Decimal("53211.0")

    rig.broker.bid, rig.broker.ask = average - 99, average - 98  # -99 open: not yet
    assert await rig.use_cases.monitors.check_exits() == []
    rig.broker.bid, rig.broker.ask = average - 100, average - 99  # -100 open: the limit
    (made,) = await rig.use_cases.monitors.check_exits()
    why = "daily loss limit reached: -100.00 today (0.00 realized, -100.00 open), limit 100; flattening"
    assert rig.published(BotStateChanged)[-1].reason == why
    assert rig.published(Notice)[-1].message == f"SA40_RSI_Bot: {why}; closing"
    assert (await rig.stored(made)).signal.source is SignalSource.MONITOR
    assert await rig.run(made) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat

    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(entry) is SignalState.REFUSED
    assert "is paused" in ((await rig.stored(entry)).reason or "")
