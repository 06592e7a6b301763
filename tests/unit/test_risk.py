"""Risk checks: each refusal names its reason; closes always pass; a reversal keeps its close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.domain.config import BotConfig
from trading.domain.market import Instrument, Quote
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.risk import RiskContext, check_risk
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import OrderSide, PositionSide

SA40 = Instrument("SA40")
OPEN = Plan(legs=(Leg(LegKind.OPEN, OrderSide.BUY, 1, PositionSide.LONG),), summary="open")
CLOSE = Plan(legs=(Leg(LegKind.CLOSE, OrderSide.SELL, 2, PositionSide.LONG),), summary="close")
REVERSE = Plan(legs=(*CLOSE.legs, Leg(LegKind.OPEN, OrderSide.SELL, 1, PositionSide.SHORT)), summary="reverse")


def ctx(plan: Plan = OPEN, **kw: object) -> RiskContext:
    config = BotConfig.parse(
        {
            "bot_name": "B",
            "symbol": "SA40",
            "webhook_key": "key_12345678",
            "max_slippage_pct": kw.pop("slippage", "0.5"),
            "max_daily_loss": kw.pop("max_daily_loss", None),
            "is_active": kw.pop("is_active", True),
        }
    )
    fields: dict[str, object] = {
        "config": config,
        "plan": plan,
        "signal": Signal(SignalAction.ENTER_LONG, Decimal("100"), AlertShape.RSI),
        "instrument": SA40,
        "quote": Quote("SA40", Decimal("100.0"), Decimal("100.2"), Decimal("100.1"), datetime.now(UTC)),
        "halted": False,
        "paused": False,
        "needs_attention": False,
        "realized_today": Decimal(0),
    }
    fields.update(kw)
    return RiskContext(**fields)  # type: ignore[arg-type]


def test_a_plain_entry_within_every_limit_passes() -> None:
    verdict = check_risk(ctx())
    assert verdict.refused is None and verdict.plan == OPEN


def test_halt_refuses_entries_and_says_how_to_resume() -> None:
    verdict = check_risk(ctx(halted=True))
    assert verdict.refused is not None and "halted" in verdict.refused and "/resume-all" in verdict.refused


def test_halt_lets_a_close_through() -> None:
    assert check_risk(ctx(CLOSE, halted=True)).refused is None


def test_a_reversal_while_paused_keeps_only_its_close() -> None:
    verdict = check_risk(ctx(REVERSE, paused=True))
    assert verdict.refused is None
    assert verdict.plan.legs == CLOSE.legs
    assert any("paused" in note for note in verdict.plan.notes)


def test_needs_attention_refuses_entries() -> None:
    verdict = check_risk(ctx(needs_attention=True))
    assert verdict.refused is not None and "needs attention" in verdict.refused


def test_daily_loss_reached_refuses_and_pauses_the_bot() -> None:
    verdict = check_risk(ctx(max_daily_loss="500", realized_today=Decimal("-500")))
    assert verdict.refused is not None and "daily loss" in verdict.refused and verdict.pause_bot


def test_daily_loss_not_yet_reached_passes() -> None:
    assert check_risk(ctx(max_daily_loss="500", realized_today=Decimal("-499.99"))).refused is None


def test_slippage_over_the_limit_names_both_prices() -> None:
    quote = Quote("SA40", Decimal("100.9"), Decimal("101.0"), Decimal("101"), datetime.now(UTC))
    verdict = check_risk(ctx(quote=quote))
    assert verdict.refused is not None
    assert "1.00%" in verdict.refused and "100" in verdict.refused and "101.0" in verdict.refused


def test_slippage_is_judged_on_the_price_the_order_would_pay() -> None:
    # a buy pays the ask: 100.4 is 0.4 % from 100, inside 0.5 %
    quote = Quote("SA40", Decimal("99.0"), Decimal("100.4"), Decimal("100"), datetime.now(UTC))
    assert check_risk(ctx(quote=quote)).refused is None


def test_no_quote_means_no_slippage_check() -> None:
    assert check_risk(ctx(quote=None)).refused is None


def test_a_leg_outside_the_instruments_limits_is_refused() -> None:
    too_big = Plan(legs=(Leg(LegKind.OPEN, OrderSide.BUY, 13, PositionSide.LONG),), summary="open")
    verdict = check_risk(ctx(too_big))
    assert verdict.refused is not None and "1 to 12" in verdict.refused


def test_a_closed_market_refuses_everything() -> None:
    closed = Instrument("SA40", trading_open=False)
    verdict = check_risk(ctx(CLOSE, instrument=closed))
    assert verdict.refused is not None and "closed" in verdict.refused


def test_an_inactive_bot_is_refused() -> None:
    verdict = check_risk(ctx(is_active=False))
    assert verdict.refused is not None and "inactive" in verdict.refused


def test_an_absurd_drift_is_reported_in_a_short_reason() -> None:
    signal = Signal(SignalAction.ENTER_LONG, Decimal("1E-8"), AlertShape.RSI)
    verdict = check_risk(ctx(signal=signal))
    assert verdict.refused is not None and "over 10000%" in verdict.refused
    assert len(verdict.refused) < 150


def test_an_entry_that_waited_past_max_signal_age_is_refused_as_stale_and_a_close_still_goes() -> None:
    old = timedelta(seconds=301)
    stale = check_risk(ctx(age=old))
    assert stale.refused is not None and "stale" in stale.refused and "max_signal_age_seconds" in stale.refused
    assert check_risk(ctx(CLOSE, age=old)).refused is None
    kept = check_risk(ctx(REVERSE, age=old))
    assert kept.refused is None and [leg.kind for leg in kept.plan.legs] == [LegKind.CLOSE]
    assert check_risk(ctx(age=timedelta(seconds=299))).refused is None
