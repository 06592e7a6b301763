"""The position engine: every rule of docs/architecture.md "The path of a signal" (Plan), one behaviour per test."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trading.domain.config import BotConfig
from trading.domain.engine import PlanningError, plan
from trading.domain.market import Instrument
from trading.domain.plan import Leg, LegKind, Plan
from trading.domain.position import Entry, Position
from trading.domain.records import SignalEdits
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import OrderSide, PositionSide

D = Decimal
T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
BUY, SELL = OrderSide.BUY, OrderSide.SELL
HERENYA = Instrument("SA40", min_quantity=1, max_quantity=12, quantity_step=1, tick_size=D("0.5"))


def config(**overrides: Any) -> BotConfig:
    fields: dict[str, Any] = {
        "bot_name": "SA40_RSI_Bot",
        "symbol": "SA40",
        "webhook_key": "sa40_rsi_50849a3c",
        "base_position_size": 1,
        "max_positions": 3,
        "allow_pyramiding": True,
        "exit_on_opposite_signal": True,
    }
    fields.update(overrides)
    return BotConfig.model_validate(fields)


def signal(action: SignalAction, price: str = "100", **kw: Any) -> Signal:
    return Signal(action=action, price=D(price), shape=AlertShape.RSI, time=T0, **kw)


def held(side: PositionSide, *quantities: int, price: str = "100") -> Position:
    """A position of one entry per quantity, all at `price`."""
    entries = [Entry(f"e{i}", q, D(price), T0) for i, q in enumerate(quantities)]
    return Position.from_entries("SA40", side, entries)


FLAT = Position.flat("SA40")
ENTER_LONG, ENTER_SHORT = SignalAction.ENTER_LONG, SignalAction.ENTER_SHORT


def legs(p: Plan) -> list[tuple[LegKind, OrderSide, int, PositionSide]]:
    return [(leg.kind, leg.side, leg.quantity, leg.position_side) for leg in p.legs]


# --- entries when flat -------------------------------------------------------------------


def test_long_entry_when_flat_opens_base_position_size_with_a_buy() -> None:
    p = plan(config(base_position_size=2), FLAT, signal(ENTER_LONG), HERENYA)
    assert legs(p) == [(LegKind.OPEN, BUY, 2, LONG)]
    assert p.summary == "open"
    assert not p.is_ignore and p.is_entry
    assert not p.legs[0].reduce_only
    assert p.notes == ()


def test_short_entry_when_flat_opens_with_a_sell() -> None:
    p = plan(config(), FLAT, signal(ENTER_SHORT), HERENYA)
    assert legs(p) == [(LegKind.OPEN, SELL, 1, SHORT)]


def test_the_alerts_own_quantity_beats_base_position_size() -> None:
    p = plan(config(base_position_size=1), FLAT, signal(ENTER_LONG, quantity=4), HERENYA)
    assert legs(p) == [(LegKind.OPEN, BUY, 4, LONG)]


def test_the_approvers_edited_quantity_beats_the_alert_and_the_config() -> None:
    p = plan(config(base_position_size=1), FLAT, signal(ENTER_LONG, quantity=4), HERENYA, SignalEdits(quantity=7))
    assert legs(p) == [(LegKind.OPEN, BUY, 7, LONG)]


def test_edits_without_a_quantity_leave_the_alerts_quantity() -> None:
    p = plan(config(), FLAT, signal(ENTER_LONG, quantity=4), HERENYA, SignalEdits(stop_loss=D(90)))
    assert legs(p) == [(LegKind.OPEN, BUY, 4, LONG)]


@pytest.mark.parametrize("qty", [0, -2])
def test_a_non_positive_quantity_is_ignored_with_the_reason(qty: int) -> None:
    p = plan(config(), FLAT, signal(ENTER_LONG, quantity=qty), HERENYA)
    assert p.is_ignore and p.legs == ()
    assert p.ignored == f"the requested quantity {qty} is not a positive number of contracts"


def test_an_entry_with_a_non_positive_price_is_ignored() -> None:
    p = plan(config(), FLAT, signal(ENTER_LONG, price="0"), HERENYA)
    assert p.ignored is not None and "price 0 is not positive" in p.ignored


# --- the instrument's min, max and step ----------------------------------------------------


def test_an_open_over_the_instrument_maximum_is_cut_to_12_with_a_note() -> None:
    p = plan(config(), FLAT, signal(ENTER_LONG, quantity=20), HERENYA)
    assert legs(p) == [(LegKind.OPEN, BUY, 12, LONG)]
    assert p.notes == ("quantity cut from 20 to 12: SA40 allows at most 12 contracts",)


def test_an_add_that_would_cross_the_maximum_is_cut_to_what_fits() -> None:
    p = plan(config(), held(LONG, 10), signal(ENTER_LONG, quantity=5), HERENYA)
    assert legs(p) == [(LegKind.ADD, BUY, 2, LONG)]
    assert p.notes == ("quantity cut from 5 to 2: SA40 allows at most 12 contracts and 10 are held",)


def test_an_add_when_the_maximum_is_already_held_is_ignored_with_the_reason() -> None:
    p = plan(config(), held(SHORT, 6, 6), signal(ENTER_SHORT), HERENYA)
    assert p.is_ignore
    assert p.ignored == "already short 12 contracts and SA40 allows at most 12 contracts, so no short entry fits"


def test_a_quantity_off_the_step_is_rounded_down_with_a_note() -> None:
    inst = Instrument("SA40", min_quantity=2, max_quantity=20, quantity_step=2)
    p = plan(config(), FLAT, signal(ENTER_LONG, quantity=5), inst)
    assert legs(p) == [(LegKind.OPEN, BUY, 4, LONG)]
    assert p.notes == ("quantity rounded down from 5 to 4: SA40 trades in steps of 2 contracts",)


def test_a_quantity_that_rounds_to_nothing_on_the_step_is_ignored() -> None:
    inst = Instrument("SA40", min_quantity=5, max_quantity=50, quantity_step=5)
    p = plan(config(), FLAT, signal(ENTER_LONG, quantity=3), inst)
    assert p.is_ignore
    assert (
        p.ignored
        == "the requested quantity 3 rounds down to 0 on the instrument's step of 5 contracts, below its minimum of 5"
    )


def test_a_quantity_below_the_instrument_minimum_is_ignored_not_raised() -> None:
    inst = Instrument("SA40", min_quantity=3, max_quantity=12)
    p = plan(config(), FLAT, signal(ENTER_LONG, quantity=2), inst)
    assert p.ignored == "the requested quantity 2 is below SA40's minimum of 3 contracts"


def test_room_under_the_maximum_is_rounded_to_the_step() -> None:
    inst = Instrument("SA40", min_quantity=2, max_quantity=12, quantity_step=2)
    # 9 held, room 3 -> 2 on the step of 2.
    p = plan(config(), held(LONG, 9), signal(ENTER_LONG, quantity=4), inst)
    assert legs(p) == [(LegKind.ADD, BUY, 2, LONG)]


@pytest.mark.parametrize("requested", [1, 5, 12, 13, 40])
@pytest.mark.parametrize("already", [0, 1, 7, 11])
def test_no_entry_is_ever_planned_over_12_contracts_in_total(requested: int, already: int) -> None:
    pos = held(LONG, already) if already else FLAT
    p = plan(config(max_positions=5), pos, signal(ENTER_LONG, quantity=requested), HERENYA)
    planned = sum(leg.quantity for leg in p.legs)
    assert all(1 <= leg.quantity <= 12 for leg in p.legs)
    assert already + planned <= 12
    assert planned == min(requested, 12 - already)


# --- pyramiding ----------------------------------------------------------------------------


def test_same_direction_entry_adds_a_level_named_n_of_max() -> None:
    p = plan(config(base_position_size=2), held(LONG, 2), signal(ENTER_LONG), HERENYA)
    assert legs(p) == [(LegKind.ADD, BUY, 2, LONG)]
    assert p.summary == "add 2 of 3"
    assert p.is_entry


def test_pyramiding_fills_up_to_max_positions_then_ignores() -> None:
    cfg = config(max_positions=3)
    assert plan(cfg, held(SHORT, 1, 1), signal(ENTER_SHORT), HERENYA).summary == "add 3 of 3"
    p = plan(cfg, held(SHORT, 1, 1, 1), signal(ENTER_SHORT), HERENYA)
    assert p.is_ignore
    assert p.ignored == "already 3 of 3 entries (max_positions) for SA40_RSI_Bot, so another short entry is not added"


def test_allow_pyramiding_false_ignores_a_same_direction_entry() -> None:
    p = plan(config(allow_pyramiding=False, max_positions=3), held(LONG, 1), signal(ENTER_LONG), HERENYA)
    assert p.is_ignore and p.legs == ()
    assert (
        p.ignored == "pyramiding is off for SA40_RSI_Bot: already long 1 contract, so another long entry is not added"
    )


# --- opposite entries ------------------------------------------------------------------------


def test_opposite_entry_with_exit_on_opposite_signal_closes_all_then_opens() -> None:
    p = plan(config(base_position_size=2), held(LONG, 1, 2), signal(ENTER_SHORT), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, SELL, 3, LONG), (LegKind.OPEN, SELL, 2, SHORT)]
    assert p.summary == "reverse"
    assert [leg.reduce_only for leg in p.legs] == [True, False]


def test_opposite_entry_without_exit_on_opposite_signal_is_ignored() -> None:
    p = plan(config(exit_on_opposite_signal=False), held(SHORT, 2), signal(ENTER_LONG), HERENYA)
    assert p.is_ignore
    assert p.ignored == (
        "exit_on_opposite_signal is off for SA40_RSI_Bot: a long entry does not close the open short 2 contracts"
    )


def test_a_reversal_of_a_full_position_opens_up_to_the_maximum_again() -> None:
    p = plan(config(), held(SHORT, 12), signal(ENTER_LONG, quantity=12), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, BUY, 12, SHORT), (LegKind.OPEN, BUY, 12, LONG)]


def test_a_reversal_whose_new_entry_cannot_be_sized_still_closes_with_a_note() -> None:
    p = plan(config(), held(LONG, 2), signal(ENTER_SHORT, quantity=0), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, SELL, 2, LONG)]
    assert p.summary == "close"
    assert p.notes == (
        "the short entry after the close was left out: the requested quantity 0 is not a positive number of contracts",
    )


# --- closes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "side", "order_side"),
    [
        (SignalAction.CLOSE_LONG, LONG, SELL),
        (SignalAction.CLOSE_SHORT, SHORT, BUY),
        (SignalAction.CLOSE, LONG, SELL),
        (SignalAction.CLOSE, SHORT, BUY),
    ],
)
def test_close_takes_the_whole_position_off_reduce_only(
    action: SignalAction, side: PositionSide, order_side: OrderSide
) -> None:
    p = plan(config(), held(side, 1, 2, 1), signal(action), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, order_side, 4, side)]
    assert p.summary == "close"
    assert p.legs[0].reduce_only
    assert not p.is_entry


@pytest.mark.parametrize("action", [SignalAction.CLOSE_LONG, SignalAction.CLOSE_SHORT, SignalAction.CLOSE])
def test_close_when_flat_is_ignored(action: SignalAction) -> None:
    p = plan(config(), FLAT, signal(action), HERENYA)
    assert p.ignored == "nothing to close: SA40_RSI_Bot has no open position on SA40"


def test_close_long_when_short_is_ignored_naming_the_side() -> None:
    p = plan(config(), held(SHORT, 2), signal(SignalAction.CLOSE_LONG), HERENYA)
    assert p.ignored == "a close long does not apply: SA40_RSI_Bot is short 2 contracts on SA40, not long"


def test_close_short_when_long_is_ignored() -> None:
    p = plan(config(), held(LONG, 1), signal(SignalAction.CLOSE_SHORT), HERENYA)
    assert p.is_ignore and p.legs == ()


def test_closing_a_position_over_the_maximum_splits_it_into_legs_of_at_most_12() -> None:
    # Possible when contracts were added outside the bot: each order must still be <= 12.
    p = plan(config(), held(LONG, 20, 5), signal(SignalAction.CLOSE), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, SELL, 12, LONG), (LegKind.CLOSE, SELL, 12, LONG), (LegKind.CLOSE, SELL, 1, LONG)]


def test_a_split_close_keeps_every_leg_at_or_above_the_minimum() -> None:
    inst = Instrument("SA40", min_quantity=3, max_quantity=12)
    p = plan(config(), held(SHORT, 13), signal(SignalAction.CLOSE), inst)
    assert [leg.quantity for leg in p.legs] == [10, 3]


# --- partial take-profit (reduce) ---------------------------------------------------------


def test_tp_reduce_takes_the_percentage_rounded_down() -> None:
    p = plan(config(), held(LONG, 3, 2), signal(SignalAction.REDUCE, reduce_pct=D(50)), HERENYA)
    assert legs(p) == [(LegKind.REDUCE, SELL, 2, LONG)]
    assert p.summary == "reduce 2"
    assert p.legs[0].reduce_only


def test_tp_reduce_takes_at_least_one_contract() -> None:
    p = plan(config(), held(SHORT, 3), signal(SignalAction.REDUCE, reduce_pct=D(10)), HERENYA)
    assert legs(p) == [(LegKind.REDUCE, BUY, 1, SHORT)]


def test_tp_reduce_of_a_single_contract_closes_it() -> None:
    p = plan(config(), held(LONG, 1), signal(SignalAction.REDUCE, reduce_pct=D(25)), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, SELL, 1, LONG)]
    assert p.summary == "close"


def test_tp_reduce_of_100_percent_is_a_close() -> None:
    p = plan(config(), held(LONG, 2, 2), signal(SignalAction.REDUCE, reduce_pct=D(100)), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, SELL, 4, LONG)]


def test_reduce_by_the_alerts_quantity() -> None:
    p = plan(config(), held(LONG, 5), signal(SignalAction.REDUCE, quantity=2), HERENYA)
    assert legs(p) == [(LegKind.REDUCE, SELL, 2, LONG)]


def test_reduce_by_the_approvers_quantity_wins_over_the_percentage() -> None:
    p = plan(config(), held(LONG, 5), signal(SignalAction.REDUCE, reduce_pct=D(20)), HERENYA, SignalEdits(quantity=3))
    assert legs(p) == [(LegKind.REDUCE, SELL, 3, LONG)]


def test_reduce_more_than_held_closes_the_whole_position_with_a_note() -> None:
    p = plan(config(), held(SHORT, 2), signal(SignalAction.REDUCE, quantity=5), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, BUY, 2, SHORT)]
    assert p.notes == ("reduce of 5 is more than the 2 held; closing the whole position instead",)


def test_reduce_quantity_off_the_step_rounds_down_with_a_note() -> None:
    inst = Instrument("SA40", min_quantity=2, max_quantity=20, quantity_step=2)
    p = plan(config(), held(LONG, 8), signal(SignalAction.REDUCE, quantity=3), inst)
    assert legs(p) == [(LegKind.REDUCE, SELL, 2, LONG)]
    assert p.notes == ("reduce rounded down from 3 to 2: SA40 trades in steps of 2 contracts",)


def test_reduce_pct_on_a_stepped_instrument_takes_at_least_one_step() -> None:
    inst = Instrument("SA40", min_quantity=1, max_quantity=20, quantity_step=2)
    p = plan(config(), held(LONG, 10), signal(SignalAction.REDUCE, reduce_pct=D(5)), inst)
    assert legs(p) == [(LegKind.REDUCE, SELL, 2, LONG)]


def test_reduce_when_flat_is_ignored() -> None:
    p = plan(config(), FLAT, signal(SignalAction.REDUCE, reduce_pct=D(50)), HERENYA)
    assert p.ignored == "nothing to reduce: SA40_RSI_Bot has no open position on SA40"


def test_reduce_without_quantity_or_percentage_is_ignored_with_the_reason() -> None:
    p = plan(config(), held(LONG, 3), signal(SignalAction.REDUCE), HERENYA)
    assert p.ignored == "a reduce needs a quantity or a percentage (tp Close), and the alert gave neither"


@pytest.mark.parametrize("pct", [D(0), D(-5), D(101)])
def test_reduce_with_a_percentage_out_of_range_is_ignored(pct: Decimal) -> None:
    p = plan(config(), held(LONG, 3), signal(SignalAction.REDUCE, reduce_pct=pct), HERENYA)
    assert p.ignored == f"the reduce percentage {pct} is not between 0 (exclusive) and 100"


def test_a_large_reduce_is_split_so_no_order_exceeds_the_maximum() -> None:
    p = plan(config(), held(LONG, 30), signal(SignalAction.REDUCE, quantity=20), HERENYA)
    assert legs(p) == [(LegKind.REDUCE, SELL, 12, LONG), (LegKind.REDUCE, SELL, 8, LONG)]


# --- breakeven -----------------------------------------------------------------------------


def test_breakeven_moves_the_stop_to_the_average_entry_without_orders() -> None:
    pos = Position.from_entries("SA40", LONG, [Entry("a", 1, D(100), T0), Entry("b", 3, D(120), T0)])
    p = plan(config(), pos, signal(SignalAction.BREAKEVEN, price="130"), HERENYA)
    assert p.legs == ()
    assert not p.is_ignore
    assert p.summary == "breakeven"
    assert p.new_stop_loss == D(115)
    assert p.new_take_profit is None


def test_breakeven_with_a_tp_percentage_reduces_first_then_moves_the_stop() -> None:
    pos = held(SHORT, 2, 2, price="200")
    p = plan(config(), pos, signal(SignalAction.BREAKEVEN, reduce_pct=D(50)), HERENYA)
    assert legs(p) == [(LegKind.REDUCE, BUY, 2, SHORT)]
    assert p.summary == "reduce 2 + breakeven"
    assert p.new_stop_loss == D(200)


def test_breakeven_whose_reduce_takes_everything_is_a_plain_close() -> None:
    p = plan(config(), held(LONG, 1), signal(SignalAction.BREAKEVEN, reduce_pct=D(50)), HERENYA)
    assert legs(p) == [(LegKind.CLOSE, SELL, 1, LONG)]
    assert p.summary == "close"
    assert p.new_stop_loss is None


def test_breakeven_stop_edited_by_the_approver_wins() -> None:
    p = plan(config(), held(LONG, 2), signal(SignalAction.BREAKEVEN), HERENYA, SignalEdits(stop_loss=D("101.5")))
    assert p.new_stop_loss == D("101.5")


def test_breakeven_when_flat_is_ignored() -> None:
    p = plan(config(), FLAT, signal(SignalAction.BREAKEVEN), HERENYA)
    assert p.ignored == "no breakeven: SA40_RSI_Bot has no open position on SA40"
    assert p.new_stop_loss is None


# --- entry levels --------------------------------------------------------------------------


def test_open_sets_levels_from_the_bot_percentages_on_the_tick() -> None:
    cfg = config(stop_loss_pct=D("1.5"), take_profit_pct=D(3))
    p = plan(cfg, FLAT, signal(ENTER_LONG, price="53210.5"), HERENYA)
    assert (p.new_stop_loss, p.new_take_profit) == (D("52412.5"), D("54806.5"))


def test_open_without_percentages_or_alert_levels_sets_none() -> None:
    p = plan(config(), FLAT, signal(ENTER_SHORT), HERENYA)
    assert (p.new_stop_loss, p.new_take_profit) == (None, None)


def test_open_uses_the_alerts_own_levels_over_percentages() -> None:
    cfg = config(stop_loss_pct=D(1), take_profit_pct=D(2))
    p = plan(cfg, FLAT, signal(ENTER_SHORT, stop_loss=D(104), take_profit=D("90.25")), HERENYA)
    assert (p.new_stop_loss, p.new_take_profit) == (D(104), D("90.25"))
    assert p.notes == ()


def test_the_approvers_levels_win_over_the_alerts() -> None:
    edits = SignalEdits(stop_loss=D(97), take_profit=D(111))
    p = plan(config(), FLAT, signal(ENTER_LONG, stop_loss=D(95), take_profit=D(110)), HERENYA, edits)
    assert (p.new_stop_loss, p.new_take_profit) == (D(97), D(111))


def test_an_add_sets_levels_from_the_expected_new_average() -> None:
    cfg = config(stop_loss_pct=D(10), take_profit_pct=D(20))
    # 1 held at 100, add 1 at 120: the new average is 110 -> stop 99, target 132.
    p = plan(cfg, held(LONG, 1, price="100"), signal(ENTER_LONG, price="120"), HERENYA)
    assert (p.new_stop_loss, p.new_take_profit) == (D(99), D(132))


def test_a_reversal_sets_levels_for_the_new_side() -> None:
    cfg = config(stop_loss_pct=D(10), take_profit_pct=D(20))
    p = plan(cfg, held(LONG, 1), signal(ENTER_SHORT, price="200"), HERENYA)
    assert (p.new_stop_loss, p.new_take_profit) == (D(220), D(160))


def test_an_alert_stop_on_the_wrong_side_of_the_price_is_flagged() -> None:
    p = plan(config(), FLAT, signal(ENTER_LONG, price="100", stop_loss=D(105)), HERENYA)
    assert p.new_stop_loss == D(105)
    assert p.notes == ("the stop 105 is at or above the entry price 100 for a long; it would trigger at once",)


def test_an_alert_target_on_the_wrong_side_of_the_price_is_flagged() -> None:
    p = plan(config(), FLAT, signal(ENTER_SHORT, price="100", take_profit=D(110)), HERENYA)
    assert p.notes == ("the target 110 is at or above the entry price 100 for a short; it would trigger at once",)


# --- wiring errors -----------------------------------------------------------------------


def test_a_position_on_another_symbol_is_a_wiring_error() -> None:
    with pytest.raises(PlanningError, match="position is on 'XYZ' but the instrument is 'SA40'"):
        plan(config(), Position.flat("XYZ"), signal(ENTER_LONG), HERENYA)


def test_a_bot_on_another_symbol_is_a_wiring_error() -> None:
    with pytest.raises(PlanningError, match="bot SA40_RSI_Bot trades 'SA40' but the instrument is 'ABC'"):
        plan(config(), Position.flat("ABC"), signal(ENTER_LONG), Instrument("ABC"))


def test_plan_is_pure_the_position_is_not_touched() -> None:
    pos = held(LONG, 2, 1)
    before = (list(pos.entries), pos.average_price, set(pos.applied_fill_ids), pos.stop_loss)
    plan(config(stop_loss_pct=D(1)), pos, signal(ENTER_SHORT), HERENYA)
    plan(config(), pos, signal(SignalAction.BREAKEVEN, reduce_pct=D(50)), HERENYA)
    assert (list(pos.entries), pos.average_price, set(pos.applied_fill_ids), pos.stop_loss) == before


def test_legs_are_plain_values() -> None:
    leg = Leg(LegKind.REDUCE, SELL, 1, LONG)
    assert leg.reduce_only
    assert not Leg(LegKind.ADD, BUY, 1, LONG).reduce_only
