"""Classification of broker failures: retryable or final, with the broker's code and text."""

from __future__ import annotations

import pytest

from brokers.errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    FinalBrokerError,
    Forbidden,
    InvalidRequest,
    OrderNotCancelable,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    QuoteUnavailable,
    RateLimited,
    ReduceOnlyRejected,
    RetryableBrokerError,
    UnknownOrder,
    UnknownSymbol,
    error_for_response,
)
from trading.services.ports import BrokerFailure, BrokerRefusal, WouldNotReduce
from trading.services.ports import BrokerUnavailable as PortUnavailable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable_and_ambiguous(status: int) -> None:
    e = error_for_response(status, "INTERNAL_ERROR", "boom", broker="Herenya")
    assert isinstance(e, BrokerUnavailable) and isinstance(e, RetryableBrokerError)
    assert e.retryable and e.ambiguous
    assert str(e) == f"Herenya HTTP {status} INTERNAL_ERROR: boom"


def test_429_is_retryable_not_ambiguous_and_carries_retry_after() -> None:
    e = error_for_response(429, "RATE_LIMITED", "slow down", broker="Herenya", retry_after=0.25)
    assert isinstance(e, RateLimited)
    assert e.retryable and not e.ambiguous and e.retry_after == 0.25


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "INVALID_API_KEY", AuthenticationFailed),
        (401, "INVALID_SIGNATURE", AuthenticationFailed),
        (401, "TIMESTAMP_EXPIRED", AuthenticationFailed),
        (403, "FORBIDDEN", Forbidden),
        (404, "UNKNOWN_SYMBOL", UnknownSymbol),
        (404, "UNKNOWN_ORDER", UnknownOrder),
        (400, "INVALID_REQUEST", InvalidRequest),
        (409, "ORDER_NOT_CANCELABLE", OrderNotCancelable),
        (422, "QUANTITY_OUT_OF_RANGE", OrderRejected),
        (422, "INSUFFICIENT_MARGIN", OrderRejected),
        (422, "MARKET_CLOSED", OrderRejected),
        (422, "REDUCE_ONLY_REJECTED", ReduceOnlyRejected),
        (422, "SOMETHING_NEW", OrderRejected),  # an unknown code still classifies by status
        (418, "TEAPOT", FinalBrokerError),
    ],
)
def test_4xx_is_final_and_names_code_and_message(status: int, code: str, cls: type[BrokerError]) -> None:
    e = error_for_response(status, code, "what the broker said", broker="Herenya")
    assert type(e) is cls
    assert isinstance(e, FinalBrokerError) and not e.retryable
    assert (e.status, e.code, e.message) == (status, code, "what the broker said")
    assert code in str(e) and "what the broker said" in str(e) and str(status) in str(e)


def test_duplicate_carries_the_original_order() -> None:
    order = {"order_id": "H-000001", "client_order_id": "sd-1-1"}
    e = error_for_response(409, "DUPLICATE_CLIENT_ORDER_ID", "used", broker="Herenya", order=order)
    assert isinstance(e, DuplicateClientOrderId) and e.order == order


def test_outcome_unknown_is_retryable_and_names_the_client_id() -> None:
    e = OrderOutcomeUnknown("sd-9-1", "order sd-9-1: outcome unknown", broker="Herenya", tries=4)
    assert e.retryable and e.ambiguous and e.client_order_id == "sd-9-1" and e.tries == 4
    assert e.code == "ORDER_OUTCOME_UNKNOWN" and "sd-9-1" in str(e)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_errors_are_the_ports_broker_unavailable(status: int) -> None:
    e = error_for_response(status, "X", "m", broker="Herenya")
    assert isinstance(e, PortUnavailable) and isinstance(e, BrokerFailure) and not isinstance(e, BrokerRefusal)


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_REQUEST"), (401, "INVALID_API_KEY"), (404, "UNKNOWN_ORDER"), (409, "DUPLICATE_CLIENT_ORDER_ID")]
    + [(422, c) for c in ("QUANTITY_OUT_OF_RANGE", "INSUFFICIENT_MARGIN", "MARKET_CLOSED", "REDUCE_ONLY_REJECTED")],
)
def test_final_errors_are_the_ports_broker_refusal(status: int, code: str) -> None:
    e = error_for_response(status, code, "m", broker="Herenya")
    assert isinstance(e, BrokerRefusal) and isinstance(e, BrokerFailure) and not isinstance(e, PortUnavailable)
    assert e.code == code  # the broker's code, not the port's default


def test_outcome_unknown_and_not_placed_are_unavailable() -> None:
    for e in (
        OrderOutcomeUnknown("sd-1-1", "unknown", broker="Herenya"),
        OrderNotPlaced("sd-1-1", "not placed", broker="Herenya"),
        QuoteUnavailable("NO_QUOTE", "no quote source", broker="Paper"),
    ):
        assert isinstance(e, PortUnavailable) and not isinstance(e, BrokerRefusal)


def test_would_not_reduce_is_a_typed_refusal() -> None:
    e = error_for_response(422, "REDUCE_ONLY_REJECTED", "would not reduce", broker="Herenya")
    assert isinstance(e, WouldNotReduce) and isinstance(e, OrderRejected) and isinstance(e, BrokerRefusal)
    other = error_for_response(422, "INSUFFICIENT_MARGIN", "m", broker="Herenya")
    assert not isinstance(other, WouldNotReduce)
