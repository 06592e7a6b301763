"""The pure rules of repairing a mismatch and of seeing an exit through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.domain.exits import ExitWatch, report_failure
from trading.domain.repair import RepairImpossible, adjustment, adjustment_price
from trading.domain.values import OrderSide

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ours", "theirs", "side", "quantity"),
    [(1, 3, OrderSide.BUY, 2), (3, 1, OrderSide.SELL, 2), (2, -1, OrderSide.SELL, 3), (-2, 0, OrderSide.BUY, 2)],
)
def test_the_adjusting_fill_makes_our_sum_the_brokers_net(
    ours: int, theirs: int, side: OrderSide, quantity: int
) -> None:
    adjust = adjustment(ours=ours, theirs=theirs, price=Decimal("100"), fill_id="r1", at=T0)
    assert adjust.fill is not None
    assert (adjust.fill.side, adjust.fill.quantity, adjust.fill.price) == (side, quantity, Decimal("100"))
    assert ours + side.sign * quantity == theirs == ours + adjust.difference


def test_no_difference_no_fill_and_no_price_no_repair() -> None:
    assert adjustment(ours=2, theirs=2, price=None, fill_id="r", at=T0).fill is None
    with pytest.raises(RepairImpossible, match="no price to book the difference of \\+1"):
        adjustment(ours=1, theirs=2, price=None, fill_id="r", at=T0)
    assert adjustment_price(Decimal(0), None, Decimal("5"), Decimal("7")) == Decimal("5")


def test_failures_are_told_first_then_every_third() -> None:
    assert [n for n in range(1, 12) if report_failure(n)] == [1, 4, 7, 10]


def test_an_exit_watch_retries_when_due_stops_for_a_person_and_resumes() -> None:
    watch = ExitWatch(1, "SA40", T0).started(5, "stop loss 99 hit at 98")
    assert watch.exiting and not watch.due(T0)  # its signal is in flight
    watch = watch.failed(T0 + timedelta(seconds=2))
    assert (watch.failures, watch.signal_id) == (1, None)
    assert not watch.due(T0 + timedelta(seconds=1)) and watch.due(T0 + timedelta(seconds=2))
    stopped = watch.stop("paused by alice")
    assert not stopped.exiting and not stopped.due(T0 + timedelta(days=1))
    assert stopped.resumed().due(T0) and stopped.resumed().attempts == 1
    assert watch.for_position(T0) is watch
    assert watch.for_position(T0 + timedelta(seconds=1)) == ExitWatch(1, "SA40", T0 + timedelta(seconds=1))


def test_missing_quotes_are_reported_on_the_third_pass_once_and_their_return_once() -> None:
    watch = ExitWatch(1, "SA40", T0)
    told = []
    for _ in range(5):
        watch, report = watch.quote_missed()
        told.append(report)
    assert told == [False, False, True, False, False]
    watch, back = watch.quote_seen()
    assert back and watch.quote_misses == 0
    assert watch.quote_seen() == (watch, False)
