"""What a broker adapter raises: retryable or final, always with the broker's code and text.

These are the broker port's error types (trading/services/broker_errors.py) with the
adapters' codes: a RetryableBrokerError is a port BrokerUnavailable (it may succeed if tried
again later: nothing was done, or the outcome is unknown and must be looked up), a
FinalBrokerError is a port BrokerRefusal (the broker answered and did nothing; it will fail
the same way every time). Callers decide by class, never by parsing messages.
"""

from __future__ import annotations

from typing import Any

from trading.domain.market import BrokerOrder, OrderRequest
from trading.services import broker_errors as port


class BrokerError(port.BrokerFailure):
    """A failure reported by (or on the way to) a broker.

    `code` is the broker's error code (or ours for transport failures, e.g. TIMEOUT),
    `status` the HTTP status when there was an answer.
    """

    retryable: bool = False

    def __init__(self, code: str, message: str, status: int | None = None, *, broker: str = "broker") -> None:
        self.code = code
        self.message = message
        self.status = status
        self.broker = broker
        super().__init__(self._describe())

    def _describe(self) -> str:
        status = f" HTTP {self.status}" if self.status is not None else ""
        return f"{self.broker}{status} {self.code}: {self.message}"


class RetryableBrokerError(BrokerError, port.BrokerUnavailable):
    """Trying again later may succeed.

    `ambiguous` is true when the request may have been carried out although no answer
    came back (timeout or connection lost after sending, 5xx): an order must then be looked
    up by its client id before it is sent again.
    """

    retryable = True

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        broker: str = "broker",
        ambiguous: bool = False,
    ) -> None:
        self.ambiguous = ambiguous
        super().__init__(code, message, status, broker=broker)


class FinalBrokerError(BrokerError, port.BrokerRefusal):
    """The same request will fail the same way: do not retry it."""


# --------------------------------------------------------------------------- retryable


class BrokerUnavailable(RetryableBrokerError):
    """Connection refused or lost, timeout, or a 5xx answer. (A subclass of the port's
    BrokerUnavailable of the same name, which it narrows to the transport.)"""


class QuoteUnavailable(RetryableBrokerError):
    """No price is known for the symbol (the paper broker with no quote source). Nothing
    was done; the code is NO_QUOTE."""


class RateLimited(RetryableBrokerError):
    """429: nothing was done; wait `retry_after` seconds (when the broker said) and retry."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = 429,
        *,
        broker: str = "broker",
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(code, message, status, broker=broker, ambiguous=False)


class BrokerProtocolError(RetryableBrokerError):
    """An answer we could not read (not JSON, missing fields). For a request that changes
    state the outcome is unknown, so it counts as ambiguous."""


class OrderOutcomeUnknown(RetryableBrokerError):
    """Placing an order failed ambiguously and retries ran out: the order may or may not
    exist. Keep it as 'unknown' and look it up by client id later; never send it under a
    new client id."""

    def __init__(self, client_order_id: str, message: str, *, broker: str = "broker", tries: int = 0) -> None:
        self.client_order_id = client_order_id
        self.tries = tries
        super().__init__("ORDER_OUTCOME_UNKNOWN", message, None, broker=broker, ambiguous=True)


class OrderNotPlaced(RetryableBrokerError):
    """Placing an order failed and retries ran out, but every failure was one where
    nothing was done (connect refused, 429): the order does not exist."""

    def __init__(self, client_order_id: str, message: str, *, broker: str = "broker", tries: int = 0) -> None:
        self.client_order_id = client_order_id
        self.tries = tries
        super().__init__("ORDER_NOT_PLACED", message, None, broker=broker, ambiguous=False)


# --------------------------------------------------------------------------- final


class BrokerConfigError(FinalBrokerError):
    """Our own configuration is wrong (missing key, bad base URL): no request was sent."""


class AuthenticationFailed(FinalBrokerError):
    """401: INVALID_API_KEY, INVALID_SIGNATURE, or TIMESTAMP_EXPIRED after a clock correction."""


class Forbidden(FinalBrokerError):
    """403: the key does not own the account."""


class InvalidRequest(FinalBrokerError):
    """400: the broker found the request malformed."""


class UnknownSymbol(FinalBrokerError):
    """404 UNKNOWN_SYMBOL."""


class UnknownOrder(FinalBrokerError):
    """404 UNKNOWN_ORDER."""


class OrderRejected(FinalBrokerError):
    """422: the order was refused and nothing was done (QUANTITY_OUT_OF_RANGE,
    INSUFFICIENT_MARGIN, MARKET_CLOSED, REDUCE_ONLY_REJECTED, ...). See `code`."""


class ReduceOnlyRejected(OrderRejected, port.WouldNotReduce):
    """422 REDUCE_ONLY_REJECTED: the order would not reduce the broker's net position."""


class DuplicateClientOrderId(FinalBrokerError):
    """409 DUPLICATE_CLIENT_ORDER_ID: the client id was used before; `order` is the wire
    form of the order first placed with it (None if the broker sent none)."""

    def __init__(
        self, code: str, message: str, status: int | None = 409, *, broker: str = "broker", order: Any = None
    ) -> None:
        self.order = order
        super().__init__(code, message, status, broker=broker)


class ClientOrderIdConflict(FinalBrokerError):
    """The broker holds an order under this client id that differs from the one we asked
    for: the id was reused for another order. Nothing new was done."""


class OrderNotCancelable(FinalBrokerError):
    """409 ORDER_NOT_CANCELABLE: the order is already final."""


def the_order_asked_for(request: OrderRequest, order: BrokerOrder, *, broker: str, held: str) -> BrokerOrder:
    """The order the broker holds under our client id, refused (ClientOrderIdConflict) unless
    it is the one we asked for. `held` says where, in the message: "at the broker", "on the
    exchange"."""
    if (
        order.client_order_id != request.client_order_id
        or order.symbol != request.symbol
        or order.side is not request.side
        or order.quantity != request.quantity
        or order.type is not request.type
    ):
        raise ClientOrderIdConflict(
            "CLIENT_ORDER_ID_CONFLICT",
            f"client order id {request.client_order_id} is held by a different order {held} "
            f"({order.order_id}: {order.side.value} {order.quantity} {order.symbol} {order.type.value})",
            broker=broker,
        )
    return order


_FINAL_BY_CODE: dict[str, type[FinalBrokerError]] = {
    "INVALID_API_KEY": AuthenticationFailed,
    "INVALID_SIGNATURE": AuthenticationFailed,
    "TIMESTAMP_EXPIRED": AuthenticationFailed,
    "FORBIDDEN": Forbidden,
    "INVALID_REQUEST": InvalidRequest,
    "UNKNOWN_SYMBOL": UnknownSymbol,
    "UNKNOWN_ORDER": UnknownOrder,
    "ORDER_NOT_CANCELABLE": OrderNotCancelable,
    "QUANTITY_OUT_OF_RANGE": OrderRejected,
    "INSUFFICIENT_MARGIN": OrderRejected,
    "MARKET_CLOSED": OrderRejected,
    "REDUCE_ONLY_REJECTED": ReduceOnlyRejected,
}

_FINAL_BY_STATUS: dict[int, type[FinalBrokerError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: Forbidden,
    422: OrderRejected,
}


def error_for_response(
    status: int,
    code: str,
    message: str,
    *,
    broker: str,
    retry_after: float | None = None,
    order: Any = None,
) -> BrokerError:
    """The error class for an HTTP error answer.

    Retryable: 429 and every 5xx (a 5xx may have done the work, so it is ambiguous).
    Final: every other 4xx, by code first (so a 404 names what was unknown), then by status.
    """
    if status == 429:
        return RateLimited(code, message, status, broker=broker, retry_after=retry_after)
    if status >= 500:
        return BrokerUnavailable(code, message, status, broker=broker, ambiguous=True)
    if code == "DUPLICATE_CLIENT_ORDER_ID":
        return DuplicateClientOrderId(code, message, status, broker=broker, order=order)
    cls = _FINAL_BY_CODE.get(code) or _FINAL_BY_STATUS.get(status, FinalBrokerError)
    return cls(code, message, status, broker=broker)
