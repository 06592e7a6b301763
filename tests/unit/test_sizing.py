"""Risk-based size (issue 17 item 6) and the two-approver rule (item 5): pure domain, numbers by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.unit.test_engine import FLAT, HERENYA, config, held, legs, signal
from trading.domain.approvers import second_approval_reason
from trading.domain.engine import plan
from trading.domain.market import Instrument
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalAction
from trading.domain.sizing import RiskSize, risk_size
from trading.domain.values import OrderSide, PositionSide

D = Decimal
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
ENTER_LONG, ENTER_SHORT = SignalAction.ENTER_LONG, SignalAction.ENTER_SHORT


def size(**over: Any) -> RiskSize | str:
    args: dict[str, Any] = {
        "equity": D("100000"),
        "risk_pct": D("1"),
        "entry_price": D("53210.5"),
        "stop": D("52600.5"),
        "instrument": HERENYA,
    }
    args.update(over)
    return risk_size(**args)


# --- the sum ---------------------------------------------------------------------------


def test_one_percent_of_100000_over_a_610_point_stop_is_1_contract() -> None:
    # 100000 x 1% = 1000; 1000 / (610 x 1) = 1.639... -> 1
    sized = size()
    assert isinstance(sized, RiskSize)
    assert sized.quantity == 1 and sized.notes == ()
    assert sized.arithmetic == (
        "1% of equity 100,000.00 ZAR = 1,000.00 ZAR; stop distance 610 × multiplier 1 = 610.00 ZAR per contract; "
        "1,000.00 ÷ 610.00 = 1.63 → 1 contract"
    )


def test_the_multiplier_scales_the_loss_per_contract() -> None:
    # 200000 x 2% = 4000; 4000 / (100 x 10) = 4
    sized = size(
        equity=D("200000"),
        risk_pct=D("2"),
        entry_price=D("5000"),
        stop=D("4900"),
        instrument=Instrument("SA40", contract_multiplier=D(10)),
    )
    assert isinstance(sized, RiskSize) and sized.quantity == 4
    assert "= 4.00 → 4 contracts" in sized.arithmetic


def test_rounded_down_to_the_step() -> None:
    # 100000 x 3% = 3000; 3000 / 610 = 4.918 -> 4 -> step 3 -> 3
    sized = size(risk_pct=D("3"), instrument=Instrument("SA40", quantity_step=3, max_quantity=12))
    assert isinstance(sized, RiskSize) and sized.quantity == 3


def test_a_short_measures_the_stop_above_the_entry() -> None:
    # 100000 x 1.5% = 1500; |53210.5 - 53710.5| = 500; 1500 / 500 = 3
    sized = size(risk_pct=D("1.5"), stop=D("53710.5"))
    assert isinstance(sized, RiskSize) and sized.quantity == 3


def test_clamped_to_the_maximum_with_a_note() -> None:
    # 1000000 x 1% = 10000; 10000 / 610 = 16.39 -> 16 -> max 12
    sized = size(equity=D("1000000"))
    assert isinstance(sized, RiskSize) and sized.quantity == 12
    assert sized.notes == ("risk sizing gives 16, cut to SA40's maximum of 12",)


def test_clamped_up_to_the_minimum_says_it_risks_more_than_the_budget() -> None:
    # 10000 x 1% = 100; 100 / 610 = 0.16 -> 0 -> min 1, which risks 610
    sized = size(equity=D("10000"))
    assert isinstance(sized, RiskSize) and sized.quantity == 1
    assert sized.notes == (
        "risk sizing gives 0, below SA40's minimum of 1: 1 risks 610.00 ZAR, more than the 100.00 ZAR budget",
    )


def test_no_stop_no_equity_or_nothing_to_risk_is_refused_with_the_reason() -> None:
    assert size(stop=None) == (
        "risk_per_trade_pct 1 sizes entries from the stop, and this entry has none "
        "(give the alert a stop, or set stop_loss_pct on the bot)"
    )
    assert size(equity=None) == (
        "risk_per_trade_pct needs the account's equity, and the broker's account could not be read"
    )
    assert size(equity=D("0")) == "the account's equity is 0 ZAR: nothing to risk"
    assert size(stop=D("53210.5")) == "the stop 53210.5 is at the entry price: the risk per contract would be zero"


# --- in the engine ---------------------------------------------------------------------


def risk_bot(**over: Any) -> Any:
    return config(risk_per_trade_pct="1", **over)


def test_an_entry_is_sized_by_risk_from_the_alerts_stop_and_the_card_gets_the_sum() -> None:
    # 500000 x 1% = 5000; stop 610 points away; 5000 / 610 = 8.19 -> 8
    p = plan(
        risk_bot(),
        FLAT,
        signal(ENTER_LONG, "53210.5", stop_loss=D("52600.5"), quantity=2),
        HERENYA,
        equity=D("500000"),
    )
    assert legs(p) == [(LegKind.OPEN, OrderSide.BUY, 8, LONG)]
    assert p.sizing is not None and p.sizing.endswith("= 8.19 → 8 contracts")
    assert p.notes == ("the alert's quantity 2 is not used: this bot sizes entries by risk",)


def test_the_bots_stop_percentage_gives_the_distance() -> None:
    # stop 1.5% under 53210.5 = 52412.3425, on the 0.5 tick toward the entry: 52412.5; distance 798
    # 100000 x 1% = 1000; 1000 / 798 = 1.25 -> 1
    p = plan(risk_bot(stop_loss_pct="1.5"), FLAT, signal(ENTER_LONG, "53210.5"), HERENYA, equity=D("100000"))
    assert legs(p) == [(LegKind.OPEN, OrderSide.BUY, 1, LONG)]
    assert p.sizing is not None and "stop distance 798 ×" in p.sizing


def test_an_entry_without_a_stop_is_refused_not_ignored() -> None:
    p = plan(risk_bot(), FLAT, signal(ENTER_LONG, "53210.5"), HERENYA, equity=D("100000"))
    assert p.is_ignore and p.refused and p.legs == ()
    assert p.ignored is not None and "this entry has none" in p.ignored


def test_without_equity_the_entry_is_refused() -> None:
    p = plan(risk_bot(), FLAT, signal(ENTER_LONG, "53210.5", stop_loss=D("52600.5")), HERENYA)
    assert p.refused and p.ignored is not None and "equity" in p.ignored


def test_a_reversal_without_a_stop_still_closes_the_old_side() -> None:
    p = plan(risk_bot(), held(SHORT, 2, price="53300"), signal(ENTER_LONG, "53210.5"), HERENYA, equity=D("1e5"))
    assert not p.refused and legs(p) == [(LegKind.CLOSE, OrderSide.BUY, 2, SHORT)]
    assert "the long entry after the close was left out" in p.notes[0] and "has none" in p.notes[0]


def test_an_add_blocked_by_pyramiding_stays_an_ignore_with_its_own_reason() -> None:
    p = plan(risk_bot(allow_pyramiding=False, max_positions=1), held(LONG, 1), signal(ENTER_LONG), HERENYA)
    assert p.is_ignore and not p.refused and "pyramiding is off" in (p.ignored or "")


def test_the_approvers_quantity_wins_over_risk_sizing() -> None:
    p = plan(
        risk_bot(),
        FLAT,
        signal(ENTER_LONG, "53210.5", stop_loss=D("52600.5")),
        HERENYA,
        SignalEdits(quantity=5),
        equity=D("100000"),
    )
    assert legs(p) == [(LegKind.OPEN, OrderSide.BUY, 5, LONG)] and p.sizing is None


def test_an_add_is_trimmed_to_the_pyramid_room_after_sizing() -> None:
    # 1000000 x 1% / 610 = 16 -> 12 (the maximum), then 10 held leaves room for 2
    p = plan(
        risk_bot(),
        held(LONG, 10, price="53210.5"),
        signal(ENTER_LONG, "53210.5", stop_loss=D("52600.5")),
        HERENYA,
        equity=D("1000000"),
    )
    assert legs(p) == [(LegKind.ADD, OrderSide.BUY, 2, LONG)]
    assert "risk sizing gives 16, cut to SA40's maximum of 12" in p.notes


# --- two approvers -----------------------------------------------------------------------


def open_plan(quantity: int) -> Plan:
    return Plan(legs=(Leg(LegKind.OPEN, OrderSide.BUY, quantity, LONG),), summary="open")


def test_more_contracts_than_second_approval_above_need_two() -> None:
    bot = config(second_approval_above=2)
    assert second_approval_reason(bot, open_plan(2), None, "ZAR") is None
    assert second_approval_reason(bot, open_plan(3), None, "ZAR") == "3 contracts is above second_approval_above (2)"


def test_more_money_at_risk_than_second_approval_risk_above_needs_two() -> None:
    bot = config(second_approval_risk_above="1000")
    assert second_approval_reason(bot, open_plan(1), D("999.99"), "ZAR") is None
    assert second_approval_reason(bot, open_plan(1), D("1000"), "ZAR") is None
    assert (
        second_approval_reason(bot, open_plan(1), D("1220"), "ZAR")
        == "1,220.00 ZAR at risk is above second_approval_risk_above (1,000.00 ZAR)"
    )
    assert "no stop" in (second_approval_reason(bot, open_plan(1), None, "ZAR") or "")


def test_closes_and_ignores_never_need_two() -> None:
    bot = config(second_approval_above=1, second_approval_risk_above="1")
    close = Plan(legs=(Leg(LegKind.CLOSE, OrderSide.SELL, 9, LONG),), summary="close")
    assert second_approval_reason(bot, close, None, "ZAR") is None
    assert second_approval_reason(bot, Plan.ignore("nothing"), None, "ZAR") is None
    assert second_approval_reason(config(), open_plan(12), D("1e9"), "ZAR") is None  # no thresholds set
