"""Position: changed only by fills, average-cost accounting, realized and unrealized P&L."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.domain.position import DuplicateFill, Entry, Fill, InvalidFill, Position
from trading.domain.values import OrderSide, PositionSide

T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
D = Decimal


def fill(fid: str, side: OrderSide, qty: int, price: str, minutes: int = 0) -> Fill:
    return Fill(fid, side, qty, D(price), T0 + timedelta(minutes=minutes))


BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_first_fill_opens_a_long_at_the_fill_price() -> None:
    pos = Position.flat("SA40")
    out = pos.apply_fill(fill("f1", BUY, 2, "100"))
    assert pos.side is PositionSide.LONG
    assert pos.quantity == 2
    assert pos.signed_quantity == 2
    assert pos.average_price == D(100)
    assert pos.opened_at == T0
    assert out.closed is None
    assert out.opened_quantity == 2
    assert out.realized_pnl == 0


def test_first_sell_opens_a_short_with_negative_signed_quantity() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", SELL, 3, "50"))
    assert pos.side is PositionSide.SHORT
    assert pos.signed_quantity == -3


def test_add_in_same_direction_appends_an_entry_and_weights_the_average_by_quantity() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 1, "100"))
    pos.apply_fill(fill("f2", BUY, 3, "120", minutes=5))
    assert [(e.fill_id, e.quantity, e.price) for e in pos.entries] == [("f1", 1, D(100)), ("f2", 3, D(120))]
    assert pos.average_price == D(115)  # (100*1 + 120*3) / 4
    assert pos.opened_at == T0  # the first entry's time, not the add's


def test_reduce_long_realizes_exit_minus_average_times_quantity_times_multiplier() -> None:
    pos = Position.flat("SA40", multiplier=D(10))
    pos.apply_fill(fill("f1", BUY, 2, "100"))
    pos.apply_fill(fill("f2", BUY, 2, "110"))
    out = pos.apply_fill(fill("f3", SELL, 1, "120"))
    assert out.closed is not None
    assert out.closed.realized_pnl == D(150)  # (120 - 105) * 1 * 10
    assert out.closed.side is PositionSide.LONG
    assert out.closed.entry_price == D(105)
    assert out.closed.exit_price == D(120)
    assert not out.closed.position_closed
    assert pos.realized_pnl == D(150)
    assert pos.quantity == 3
    assert pos.average_price == D(105)  # a reduce leaves the average where it was


def test_reduce_trims_the_newest_entry_first() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 2, "100"))
    pos.apply_fill(fill("f2", BUY, 2, "110"))
    pos.apply_fill(fill("f3", SELL, 3, "105"))
    assert [(e.fill_id, e.quantity) for e in pos.entries] == [("f1", 1)]


def test_short_profits_when_price_falls_with_multiplier() -> None:
    pos = Position.flat("SA40", multiplier=D("2.5"))
    pos.apply_fill(fill("f1", SELL, 4, "200"))
    out = pos.apply_fill(fill("f2", BUY, 4, "190"))
    assert out.closed is not None
    assert out.closed.realized_pnl == D(100)  # (190 - 200) * 4 * 2.5 * -1
    assert out.closed.position_closed
    assert pos.is_flat


def test_short_loses_when_price_rises() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", SELL, 2, "200"))
    out = pos.apply_fill(fill("f2", BUY, 1, "210"))
    assert out.realized_pnl == D(-10)
    assert pos.signed_quantity == -1


def test_close_goes_flat_and_clears_average_levels_and_open_time() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 2, "100"))
    pos.stop_loss, pos.take_profit = D(95), D(110)
    out = pos.apply_fill(fill("f2", SELL, 2, "90", minutes=30))
    assert pos.is_flat
    assert pos.side is None
    assert pos.average_price is None
    assert pos.opened_at is None
    assert pos.stop_loss is None and pos.take_profit is None
    assert out.closed is not None
    assert out.closed.realized_pnl == D(-20)
    assert out.closed.opened_at == T0
    assert out.closed.closed_at == T0 + timedelta(minutes=30)
    assert out.opened_quantity == 0


def test_fill_larger_than_position_flips_to_the_other_side_with_the_remainder() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 2, "100"))
    out = pos.apply_fill(fill("f2", SELL, 5, "110", minutes=1))
    assert out.closed is not None
    assert out.closed.quantity == 2
    assert out.closed.realized_pnl == D(20)
    assert out.closed.position_closed
    assert out.opened_quantity == 3
    assert pos.side is PositionSide.SHORT
    assert pos.quantity == 3
    assert pos.average_price == D(110)
    assert [e.fill_id for e in pos.entries] == ["f2"]
    assert pos.opened_at == T0 + timedelta(minutes=1)


def test_duplicate_fill_id_is_refused_and_leaves_the_position_unchanged() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 2, "100"))
    pos.apply_fill(fill("f2", SELL, 1, "110"))
    before = copy.deepcopy(pos)
    with pytest.raises(DuplicateFill, match="'f1'") as exc:
        pos.apply_fill(fill("f1", BUY, 2, "100"))
    assert exc.value.fill_id == "f1"
    assert pos == before


def test_duplicate_is_refused_even_with_different_contents() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 1, "100"))
    with pytest.raises(DuplicateFill):
        pos.apply_fill(fill("f1", SELL, 1, "150"))
    assert pos.quantity == 1 and pos.realized_pnl == 0


@pytest.mark.parametrize(
    ("qty", "price", "problem"),
    [(0, "100", "quantity 0"), (-1, "100", "quantity -1"), (1, "0", "price 0"), (1, "-5", "price -5")],
)
def test_invalid_fill_is_refused_naming_the_field_and_does_not_burn_its_id(qty: int, price: str, problem: str) -> None:
    pos = Position.flat("SA40")
    with pytest.raises(InvalidFill, match=problem):
        pos.apply_fill(fill("bad", BUY, qty, price))
    assert pos.is_flat
    # The id was not recorded, so the corrected fill with that id still applies.
    pos.apply_fill(fill("bad", BUY, 1, "100"))
    assert pos.quantity == 1


def test_unrealized_pnl_long_and_short_at_a_price() -> None:
    long = Position.flat("SA40", multiplier=D(2))
    long.apply_fill(fill("a", BUY, 3, "100"))
    assert long.unrealized_pnl(D(105)) == D(30)
    assert long.unrealized_pnl(D(95)) == D(-30)
    short = Position.flat("SA40", multiplier=D(2))
    short.apply_fill(fill("b", SELL, 3, "100"))
    assert short.unrealized_pnl(D(105)) == D(-30)
    assert short.unrealized_pnl(D(95)) == D(30)


def test_flat_position_has_no_unrealized_pnl() -> None:
    assert Position.flat("SA40").unrealized_pnl(D(123)) == 0


def test_realized_pnl_accumulates_over_several_reduces() -> None:
    pos = Position.flat("SA40")
    pos.apply_fill(fill("f1", BUY, 3, "100"))
    pos.apply_fill(fill("f2", SELL, 1, "110"))
    pos.apply_fill(fill("f3", SELL, 1, "90"))
    pos.apply_fill(fill("f4", SELL, 1, "130"))
    assert pos.realized_pnl == D(10 - 10 + 30)


def test_from_entries_weights_the_average_and_records_entry_fill_ids() -> None:
    entries = [Entry("e1", 1, D(100), T0), Entry("e2", 3, D(104), T0 + timedelta(hours=1))]
    pos = Position.from_entries("SA40", PositionSide.SHORT, entries, multiplier=D(5))
    assert pos.side is PositionSide.SHORT
    assert pos.quantity == 4
    assert pos.average_price == D(103)
    assert pos.opened_at == T0
    with pytest.raises(DuplicateFill):
        pos.apply_fill(fill("e2", SELL, 1, "100"))


def test_from_entries_keeps_a_stored_average_and_extra_fields() -> None:
    entries = [Entry("e1", 2, D(100), T0)]
    pos = Position.from_entries(
        "SA40", PositionSide.LONG, entries, average_price=D("97.5"), stop_loss=D(90), take_profit=D(120)
    )
    assert pos.average_price == D("97.5")
    assert pos.stop_loss == D(90)
    assert pos.take_profit == D(120)


def test_from_entries_with_no_entries_is_flat() -> None:
    pos = Position.from_entries("SA40", PositionSide.LONG, [])
    assert pos.is_flat and pos.side is None


def test_from_entries_refuses_an_empty_entry() -> None:
    with pytest.raises(InvalidFill, match="at least one contract"):
        Position.from_entries("SA40", PositionSide.LONG, [Entry("e1", 0, D(100), T0)])


def test_from_entries_refuses_an_entry_without_a_positive_price() -> None:
    with pytest.raises(InvalidFill, match="positive price"):
        Position.from_entries("SA40", PositionSide.LONG, [Entry("e1", 1, D(0), T0)])


def test_a_position_rebuilt_from_its_stored_average_realizes_exact_money() -> None:
    """The stored average keeps 12 places (53211.166666666667); closing 3 at 53211 from it
    would realize -0.500000000001. The entries' own mean gives back the exact -0.5."""
    t = datetime(2026, 12, 7, tzinfo=UTC)
    entries = [Entry("a", 1, Decimal("53211.5"), t), Entry("b", 2, Decimal("53211"), t)]
    pos = Position.from_entries("SA40", PositionSide.LONG, entries, average_price=Decimal("53211.166666666667"))
    outcome = pos.apply_fill(Fill("c", OrderSide.SELL, 3, Decimal("53211"), t))
    assert outcome.realized_pnl.quantize(Decimal("1e-12")) == Decimal("-0.5")
