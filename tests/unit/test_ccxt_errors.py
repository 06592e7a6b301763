"""ccxt's exceptions onto the broker port's error types, by class."""

from __future__ import annotations

import pytest
from ccxt.base import errors as ccxt_errors

from brokers import errors as ours
from brokers.ccxt.errors import CONFIGURATION_CODES, CONFIGURATION_PROBLEM, broker_error, scrub
from trading.services import broker_errors as port


@pytest.mark.parametrize(
    ("ccxt_class", "expected", "code", "ambiguous"),
    [
        (ccxt_errors.NetworkError, ours.BrokerUnavailable, "NETWORK_ERROR", True),
        (ccxt_errors.ExchangeNotAvailable, ours.BrokerUnavailable, "EXCHANGE_NOT_AVAILABLE", True),
        (ccxt_errors.OnMaintenance, ours.BrokerUnavailable, "EXCHANGE_NOT_AVAILABLE", True),
        (ccxt_errors.RequestTimeout, ours.BrokerUnavailable, "TIMEOUT", True),
        (ccxt_errors.DDoSProtection, ours.RateLimited, "RATE_LIMITED", False),
        (ccxt_errors.RateLimitExceeded, ours.RateLimited, "RATE_LIMITED", False),
        (ccxt_errors.InvalidNonce, ours.BrokerUnavailable, "INVALID_NONCE", False),
        (ccxt_errors.BadResponse, ours.BrokerProtocolError, "BAD_RESPONSE", True),
        (ccxt_errors.NullResponse, ours.BrokerProtocolError, "BAD_RESPONSE", True),
    ],
)
def test_failures_without_an_answer_are_retryable(
    ccxt_class: type[Exception], expected: type[ours.BrokerError], code: str, ambiguous: bool
) -> None:
    error = broker_error(ccxt_class("binanceusdm GET https://fapi.binance.com/fapi/v1/order"), broker="bf")
    assert type(error) is expected and isinstance(error, port.BrokerUnavailable)
    assert isinstance(error, ours.RetryableBrokerError)
    assert (error.code, error.ambiguous) == (code, ambiguous)


@pytest.mark.parametrize(
    ("ccxt_class", "expected", "code"),
    [
        (ccxt_errors.InsufficientFunds, ours.OrderRejected, "INSUFFICIENT_FUNDS"),
        (ccxt_errors.InvalidOrder, ours.OrderRejected, "INVALID_ORDER"),
        (ccxt_errors.OrderImmediatelyFillable, ours.OrderRejected, "INVALID_ORDER"),
        (ccxt_errors.OrderNotFound, ours.UnknownOrder, "ORDER_NOT_FOUND"),
        (ccxt_errors.DuplicateOrderId, ours.DuplicateClientOrderId, "DUPLICATE_CLIENT_ORDER_ID"),
        (ccxt_errors.BadSymbol, ours.UnknownSymbol, "BAD_SYMBOL"),
        (ccxt_errors.MarketClosed, ours.OrderRejected, "MARKET_CLOSED"),
        (ccxt_errors.AuthenticationError, ours.AuthenticationFailed, "AUTHENTICATION_FAILED"),
        (ccxt_errors.PermissionDenied, ours.Forbidden, "PERMISSION_DENIED"),
        (ccxt_errors.AccountSuspended, ours.AuthenticationFailed, "AUTHENTICATION_FAILED"),
        (ccxt_errors.NotSupported, ours.InvalidRequest, "NOT_SUPPORTED"),
        (ccxt_errors.BadRequest, ours.InvalidRequest, "BAD_REQUEST"),
        (ccxt_errors.OperationRejected, ours.OrderRejected, "OPERATION_REJECTED"),
        (ccxt_errors.ExchangeError, ours.FinalBrokerError, "EXCHANGE_ERROR"),
    ],
)
def test_answers_that_refuse_are_final_with_the_exchange_message(
    ccxt_class: type[Exception], expected: type[ours.BrokerError], code: str
) -> None:
    message = 'binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'
    error = broker_error(ccxt_class(message), broker="binance-futures")
    assert type(error) is expected and isinstance(error, port.BrokerRefusal)
    said = f"{CONFIGURATION_PROBLEM}: {message}" if code in CONFIGURATION_CODES else message
    assert error.code == code and error.message == said
    assert str(error) == f"binance-futures {code}: {said}"


def test_key_problems_are_the_configuration_codes() -> None:
    codes = {
        broker_error(c("x"), broker="b").code for c in (ccxt_errors.AuthenticationError, ccxt_errors.PermissionDenied)
    }
    assert codes == CONFIGURATION_CODES


def test_signatures_keys_and_secrets_never_reach_the_message() -> None:
    text = (
        "binanceusdm GET http://127.0.0.1:1/fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature=abcdef0123 "
        "request timed out; key K3Y-live secret S3CRET"
    )
    error = broker_error(ccxt_errors.RequestTimeout(text), broker="b", secrets=["K3Y-live", "S3CRET", ""])
    assert "abcdef0123" not in str(error) and "K3Y-live" not in str(error) and "S3CRET" not in str(error)
    assert "signature=***" in error.message and "symbol=BTCUSDT" in error.message
    assert scrub("apiKey=abc&x=1") == "apiKey=***&x=1"
