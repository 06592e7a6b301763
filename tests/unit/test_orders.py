"""The order and signal state machines, checked pair by pair against tables written out here."""

from __future__ import annotations

import itertools

import pytest

from trading.domain.market import BrokerOrderStatus
from trading.domain.orders import (
    ORDER_TRANSITIONS,
    IllegalOrderTransition,
    OrderStatus,
    client_order_id,
    from_broker,
    transition,
)
from trading.domain.signals import SIGNAL_TRANSITIONS, IllegalSignalTransition, SignalState, check_signal_transition

# What we expect, written independently of trading/orders.py: a change there must change this too.
EXPECTED_ORDER: dict[str, set[str]] = {
    "new": {"submitted", "rejected", "canceled"},
    "submitted": {"partially_filled", "filled", "rejected", "canceled", "unknown"},
    "unknown": {"submitted", "partially_filled", "filled", "rejected", "canceled"},
    "partially_filled": {"partially_filled", "filled", "canceled", "unknown"},
    "filled": set(),
    "rejected": set(),
    "canceled": set(),
}

EXPECTED_SIGNAL: dict[str, set[str]] = {
    "received": {"queued", "pending_approval", "ignored", "refused"},
    "pending_approval": {"approved", "rejected", "expired", "refused"},
    "approved": {"queued", "refused", "expired"},
    "queued": {"executing", "refused", "ignored", "failed"},
    "executing": {"executed", "failed", "refused", "ignored", "expired", "canceled"},
    "executed": set(),
    "failed": set(),
    "rejected": set(),
    "expired": set(),
    "canceled": set(),
    "ignored": set(),
    "refused": set(),
}

ORDER_PAIRS = list(itertools.product(OrderStatus, OrderStatus))
SIGNAL_PAIRS = list(itertools.product(SignalState, SignalState))


def test_expected_order_table_names_every_status() -> None:
    assert set(EXPECTED_ORDER) == {s.value for s in OrderStatus}
    assert {s.value for s in ORDER_TRANSITIONS} == set(EXPECTED_ORDER)


@pytest.mark.parametrize(("current", "target"), ORDER_PAIRS, ids=[f"{a.value}->{b.value}" for a, b in ORDER_PAIRS])
def test_order_transition_is_allowed_exactly_when_the_expected_table_says(
    current: OrderStatus, target: OrderStatus
) -> None:
    if target.value in EXPECTED_ORDER[current.value]:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalOrderTransition) as exc:
            transition(current, target)
        assert exc.value.current is current and exc.value.target is target
        assert f"from {current.value} to {target.value}" in str(exc.value)


@pytest.mark.parametrize(
    "path",
    [
        ["new", "submitted", "partially_filled", "filled"],
        ["new", "submitted", "partially_filled", "partially_filled", "filled"],
        ["new", "submitted", "filled"],
        ["new", "submitted", "rejected"],
        ["new", "rejected"],
        ["new", "submitted", "canceled"],
        ["new", "canceled"],
        ["new", "submitted", "partially_filled", "canceled"],
        ["new", "submitted", "unknown", "submitted", "filled"],
        ["new", "submitted", "unknown", "filled"],
        ["new", "submitted", "unknown", "partially_filled", "filled"],
        ["new", "submitted", "unknown", "rejected"],
        ["new", "submitted", "partially_filled", "unknown", "filled"],
    ],
)
def test_legal_order_paths_walk_through(path: list[str]) -> None:
    state = OrderStatus(path[0])
    for step in path[1:]:
        state = transition(state, OrderStatus(step))
    assert state is OrderStatus(path[-1])


def test_order_final_states_are_filled_rejected_and_canceled() -> None:
    assert {s.value for s in OrderStatus if s.is_final} == {"filled", "rejected", "canceled"}


def test_a_filled_order_cannot_be_submitted_again() -> None:
    with pytest.raises(IllegalOrderTransition, match="from filled to submitted"):
        transition(OrderStatus.FILLED, OrderStatus.SUBMITTED)


@pytest.mark.parametrize(
    ("broker", "ours"),
    [
        (BrokerOrderStatus.NEW, OrderStatus.SUBMITTED),
        (BrokerOrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED),
        (BrokerOrderStatus.FILLED, OrderStatus.FILLED),
        (BrokerOrderStatus.CANCELED, OrderStatus.CANCELED),
        (BrokerOrderStatus.REJECTED, OrderStatus.REJECTED),
    ],
)
def test_broker_status_maps_onto_ours(broker: BrokerOrderStatus, ours: OrderStatus) -> None:
    assert from_broker(broker) is ours
    # A broker's final word is final for us too, so nothing is left hanging.
    assert ours.is_final == broker.is_final


def test_client_order_id_is_sd_signal_leg() -> None:
    assert client_order_id(42, 0) == "sd-42-0"
    assert client_order_id(7, 3) == "sd-7-3"
    assert client_order_id(42, 1) != client_order_id(4, 21)


def test_expected_signal_table_names_every_state() -> None:
    assert set(EXPECTED_SIGNAL) == {s.value for s in SignalState}
    assert {s.value for s in SIGNAL_TRANSITIONS} == set(EXPECTED_SIGNAL)


@pytest.mark.parametrize(("current", "target"), SIGNAL_PAIRS, ids=[f"{a.value}->{b.value}" for a, b in SIGNAL_PAIRS])
def test_signal_transition_is_allowed_exactly_when_the_expected_table_says(
    current: SignalState, target: SignalState
) -> None:
    if target.value in EXPECTED_SIGNAL[current.value]:
        check_signal_transition(current, target)
    else:
        with pytest.raises(IllegalSignalTransition) as exc:
            check_signal_transition(current, target)
        assert exc.value.current is current and exc.value.target is target
        assert f"from {current.value} to {target.value}" in str(exc.value)


@pytest.mark.parametrize(
    "path",
    [
        ["received", "queued", "executing", "executed"],
        ["received", "queued", "executing", "failed"],
        ["received", "pending_approval", "approved", "queued", "executing", "executed"],
        ["received", "pending_approval", "rejected"],
        ["received", "pending_approval", "expired"],
        ["received", "queued", "executing", "expired"],  # a limit order timed out
        ["received", "pending_approval", "approved", "queued", "executing", "canceled"],  # a person cancelled
        ["received", "ignored"],
        ["received", "refused"],
    ],
)
def test_legal_signal_paths_walk_through(path: list[str]) -> None:
    for current, target in itertools.pairwise(path):
        check_signal_transition(SignalState(current), SignalState(target))


def test_signal_final_states() -> None:
    assert {s.value for s in SignalState if s.is_final} == {
        "executed",
        "failed",
        "rejected",
        "expired",
        "canceled",
        "ignored",
        "refused",
    }
