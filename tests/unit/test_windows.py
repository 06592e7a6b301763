"""Trading windows, hand-computed: daylight saving in a zone that has it, a window across
midnight, a closed date; and the risk check that refuses entries outside while closes run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from trading.domain.config import BotConfig, BotConfigError
from trading.domain.flatten import window_end
from trading.domain.market import Instrument, Quote
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.risk import RiskContext, check_risk
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import OrderSide, PositionSide
from trading.domain.windows import WindowError, outside_hours, parse_window

JHB = "Africa/Johannesburg"  # UTC+2 all year
LONDON = "Europe/London"  # GMT, BST (UTC+1) from 29 March to 25 October 2026
WEEKDAYS = ["Mon-Fri 08:00-16:30"]
REFUSED_JHB = "outside trading hours Mon-Fri 08:00-16:30 Africa/Johannesburg"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_weekday_hours_in_johannesburg() -> None:
    # Monday 7 December 2026: 08:00 in Johannesburg is 06:00 UTC, 16:30 is 14:30 UTC.
    assert outside_hours(WEEKDAYS, JHB, None, utc(2026, 12, 7, 5, 59)) == REFUSED_JHB
    assert outside_hours(WEEKDAYS, JHB, None, utc(2026, 12, 7, 6, 0)) is None
    assert outside_hours(WEEKDAYS, JHB, None, utc(2026, 12, 7, 14, 29)) is None
    assert outside_hours(WEEKDAYS, JHB, None, utc(2026, 12, 7, 14, 30)) == REFUSED_JHB
    assert outside_hours(WEEKDAYS, JHB, None, utc(2026, 12, 12, 10, 0)) == REFUSED_JHB  # a Saturday


def test_daylight_saving_moves_the_window_in_utc() -> None:
    # Friday 27 March (GMT): 07:30 UTC is 07:30 in London, before the open.
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 3, 27, 7, 30)) is not None
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 3, 27, 8, 0)) is None
    # Monday 30 March (BST): the same 07:30 UTC is 08:30 in London, open; it opened at 07:00 UTC.
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 3, 30, 7, 30)) is None
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 3, 30, 6, 59)) is not None
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 3, 30, 7, 0)) is None
    # Friday 23 October (BST): 15:30 UTC is 16:30 in London, closed; Monday 26 October (GMT): open.
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 10, 23, 15, 30)) is not None
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 10, 26, 15, 30)) is None
    assert outside_hours(WEEKDAYS, LONDON, None, utc(2026, 10, 26, 16, 30)) is not None


def test_a_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    night = ["Sun-Thu 22:00-02:00"]
    assert outside_hours(night, "UTC", None, utc(2026, 12, 6, 21, 59)) is not None  # Sunday, before
    assert outside_hours(night, "UTC", None, utc(2026, 12, 6, 22, 0)) is None  # Sunday night
    assert outside_hours(night, "UTC", None, utc(2026, 12, 7, 1, 59)) is None  # Monday morning, Sunday's
    assert outside_hours(night, "UTC", None, utc(2026, 12, 7, 2, 0)) is not None
    assert outside_hours(night, "UTC", None, utc(2026, 12, 11, 1, 0)) is None  # Friday morning, Thursday's
    assert outside_hours(night, "UTC", None, utc(2026, 12, 11, 22, 0)) is not None  # Friday night: not listed
    assert outside_hours(night, "UTC", None, utc(2026, 12, 12, 1, 0)) is not None  # Saturday morning


def test_a_closed_date_is_a_date_in_the_bots_zone() -> None:
    always = ["Mon-Sun 00:00-24:00"]
    closed = (date(2026, 12, 25),)
    # 21:59 UTC on the 24th is 23:59 in Johannesburg: still the 24th.
    assert outside_hours(always, JHB, closed, utc(2026, 12, 24, 21, 59)) is None
    # 22:00 UTC on the 24th is midnight of the 25th there.
    assert outside_hours(always, JHB, closed, utc(2026, 12, 24, 22, 0)) == (
        "closed on 2026-12-25 (Africa/Johannesburg; closed_dates)"
    )
    assert outside_hours(None, JHB, closed, utc(2026, 12, 25, 12, 0)) is not None  # no hours: every hour, but closed
    assert outside_hours(None, JHB, closed, utc(2026, 12, 26, 0, 0)) is None


def test_days_wrap_and_are_written_back_tidily() -> None:
    weekend = parse_window("fri-mon 10:00-11:00")
    assert weekend.days == {4, 5, 6, 0} and weekend.text == "Fri-Mon 10:00-11:00"
    assert parse_window("Mon,Wed 09:00-17:00").days == {0, 2}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri 8-16", "is not a window"),
        ("Funday 08:00-16:00", "'Funday' is not a day"),
        ("Mon 25:00-26:00", "25:00 is not a time of day"),
        ("Mon 09:00-09:00", "starts and ends at the same time"),
    ],
)
def test_a_bad_window_is_refused_saying_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(WindowError, match=says):
        parse_window(text)


def _config(**fields: object) -> BotConfig:
    return BotConfig.parse({"bot_name": "B", "symbol": "SA40", "webhook_key": "key_12345678", **fields})


def test_the_bot_fields_are_checked_naming_the_field() -> None:
    with pytest.raises(BotConfigError) as raised:
        _config(trading_hours=["Mon-Fri 8-16"], trading_timezone="Mars/Olympus", closed_dates=["2026-13-01"])
    fields = sorted(e.split(":", 1)[0] for e in raised.value.errors)
    assert fields == ["closed_dates.0", "trading_hours", "trading_timezone"]
    assert _config(trading_hours=[], closed_dates=[]).trading_hours is None


OPEN = Plan(legs=(Leg(LegKind.OPEN, OrderSide.BUY, 1, PositionSide.LONG),), summary="open")
CLOSE = Plan(legs=(Leg(LegKind.CLOSE, OrderSide.SELL, 2, PositionSide.LONG),), summary="close")
REVERSE = Plan(legs=(*CLOSE.legs, Leg(LegKind.OPEN, OrderSide.SELL, 1, PositionSide.SHORT)), summary="reverse")


def _risk(plan: Plan, at: datetime) -> RiskContext:
    return RiskContext(
        config=_config(trading_hours=WEEKDAYS, trading_timezone=JHB, max_slippage_pct=None),
        plan=plan,
        signal=Signal(SignalAction.ENTER_LONG, Decimal(100), AlertShape.RSI),
        instrument=Instrument("SA40"),
        quote=Quote("SA40", Decimal(100), Decimal(100), Decimal(100), at),
        halted=False,
        paused=False,
        needs_attention=False,
        realized_today=Decimal(0),
        now=at,
    )


def test_outside_the_window_entries_are_refused_closes_run_and_a_reversal_only_closes() -> None:
    evening = utc(2026, 12, 7, 18, 0)  # 20:00 in Johannesburg
    assert check_risk(_risk(OPEN, evening)).refused == REFUSED_JHB
    assert check_risk(_risk(CLOSE, evening)).refused is None
    reversed_ = check_risk(_risk(REVERSE, evening))
    assert reversed_.refused is None and reversed_.plan.legs == CLOSE.legs
    assert reversed_.plan.notes[-1] == f"entry dropped: {REFUSED_JHB}; closing only"
    assert check_risk(_risk(OPEN, utc(2026, 12, 7, 8, 0))).refused is None


def test_the_window_end_closes_only_for_a_bot_that_asks() -> None:
    evening = utc(2026, 12, 7, 18, 0)
    flattening = _config(trading_hours=WEEKDAYS, trading_timezone=JHB, flatten_at_window_end=True)
    assert window_end(flattening, evening) == f"trading window ended ({REFUSED_JHB})"
    assert window_end(flattening, utc(2026, 12, 7, 8, 0)) is None
    assert window_end(_config(trading_hours=WEEKDAYS, trading_timezone=JHB), evening) is None
