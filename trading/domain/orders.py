"""Our own record of an order and the explicit table of the states it may move through."""

from __future__ import annotations

from enum import StrEnum

from trading.domain.market import BrokerOrderStatus


class OrderStatus(StrEnum):
    NEW = "new"  # stored with its client order id, not yet sent
    SUBMITTED = "submitted"  # about to be / being sent
    UNKNOWN = "unknown"  # sent, but the answer was lost: look it up by client id before anything else
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return not ORDER_TRANSITIONS[self]


ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.SUBMITTED, OrderStatus.REJECTED, OrderStatus.CANCELED}),
    OrderStatus.SUBMITTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.REJECTED,
            OrderStatus.CANCELED,
            OrderStatus.UNKNOWN,
        }
    ),
    # After a look-up: the broker's word, or "never placed" (back to submitted, to send again).
    OrderStatus.UNKNOWN: frozenset(
        {
            OrderStatus.SUBMITTED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.REJECTED,
            OrderStatus.CANCELED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.UNKNOWN}
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
}


class IllegalOrderTransition(ValueError):
    def __init__(self, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(f"an order cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """Return `target` if the table allows current -> target, else raise."""
    if target not in ORDER_TRANSITIONS[current]:
        raise IllegalOrderTransition(current, target)
    return target


_FROM_BROKER = {
    BrokerOrderStatus.NEW: OrderStatus.SUBMITTED,
    BrokerOrderStatus.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    BrokerOrderStatus.FILLED: OrderStatus.FILLED,
    BrokerOrderStatus.CANCELED: OrderStatus.CANCELED,
    BrokerOrderStatus.REJECTED: OrderStatus.REJECTED,
}


def from_broker(status: BrokerOrderStatus) -> OrderStatus:
    return _FROM_BROKER[status]


def client_order_id(signal_id: int, leg: int) -> str:
    """`sd-<signal id>-<leg>`: fixed before the first send, reused by every retry."""
    return f"sd-{signal_id}-{leg}"
