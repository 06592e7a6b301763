"""ccxt's exceptions sorted onto the broker port's error types (brokers/errors.py).

By class, most specific first: ccxt's hierarchy already says whether the exchange answered
(ExchangeError and its subclasses: final, nothing was done) or not (NetworkError and its
subclasses: retryable; a timeout or a 5xx may have done the work, so it is ambiguous; a
rate limit or a refused nonce did nothing). The exchange's own message is kept, with any
signature, key or secret taken out: ccxt puts the request's URL (and its signed query
string) into some of its messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ccxt.base import errors as ccxt_errors

from brokers.errors import (
    AuthenticationFailed,
    BrokerError,
    BrokerProtocolError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    FinalBrokerError,
    Forbidden,
    InvalidRequest,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    UnknownSymbol,
)

# (ccxt class, ours, our code): the first class the exception is an instance of wins.
_FINAL: tuple[tuple[type[Exception], type[FinalBrokerError], str], ...] = (
    (ccxt_errors.OrderNotFound, UnknownOrder, "ORDER_NOT_FOUND"),
    (ccxt_errors.DuplicateOrderId, DuplicateClientOrderId, "DUPLICATE_CLIENT_ORDER_ID"),
    (ccxt_errors.InsufficientFunds, OrderRejected, "INSUFFICIENT_FUNDS"),
    (ccxt_errors.BadSymbol, UnknownSymbol, "BAD_SYMBOL"),
    (ccxt_errors.MarketClosed, OrderRejected, "MARKET_CLOSED"),
    (ccxt_errors.InvalidOrder, OrderRejected, "INVALID_ORDER"),
    (ccxt_errors.PermissionDenied, Forbidden, "PERMISSION_DENIED"),
    (ccxt_errors.AuthenticationError, AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (ccxt_errors.NotSupported, InvalidRequest, "NOT_SUPPORTED"),
    (ccxt_errors.BadRequest, InvalidRequest, "BAD_REQUEST"),
    (ccxt_errors.OperationRejected, OrderRejected, "OPERATION_REJECTED"),
    (ccxt_errors.ExchangeError, FinalBrokerError, "EXCHANGE_ERROR"),
)
_RETRYABLE: tuple[tuple[type[Exception], str, bool], ...] = (
    (ccxt_errors.RequestTimeout, "TIMEOUT", True),
    (ccxt_errors.ExchangeNotAvailable, "EXCHANGE_NOT_AVAILABLE", True),
    (ccxt_errors.InvalidNonce, "INVALID_NONCE", False),
    (ccxt_errors.NetworkError, "NETWORK_ERROR", True),
)
# Configuration problems: the keys are wrong or lack a permission; the message says so first,
# so the error channel and `accounts check` tell a person what to fix.
CONFIGURATION_CODES = frozenset({"AUTHENTICATION_FAILED", "PERMISSION_DENIED"})
CONFIGURATION_PROBLEM = (
    "configuration problem: the exchange refused the API key (check the account's api_key_env and "
    "api_secret_env, and the key's permissions and IP allowlist)"
)

_SIGNED_PARAM = re.compile(r"(?i)\b(signature|sign|apikey|api_key|api-key|secret|passphrase|password)=[^&\s\"']+")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without signed query parameters or any of `secrets`."""
    text = _SIGNED_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def broker_error(error: Exception, *, broker: str, secrets: Iterable[str] = ()) -> BrokerError:
    """The port's error for a ccxt exception (a ccxt BaseError; anything else is a bug and
    is not passed here)."""
    message = scrub(str(error), secrets) or type(error).__name__
    if isinstance(error, ccxt_errors.DDoSProtection | ccxt_errors.RateLimitExceeded):
        return RateLimited("RATE_LIMITED", message, None, broker=broker)
    for ccxt_class, code, ambiguous in _RETRYABLE:
        if isinstance(error, ccxt_class):
            return BrokerUnavailable(code, message, broker=broker, ambiguous=ambiguous)
    for ccxt_final, ours, code in _FINAL:
        if isinstance(error, ccxt_final):
            if code in CONFIGURATION_CODES:
                message = f"{CONFIGURATION_PROBLEM}: {message}"
            return ours(code, message, None, broker=broker)
    # BadResponse, NullResponse, OperationFailed and the rest: an answer that could not be
    # read, so what the exchange did is unknown.
    return BrokerProtocolError("BAD_RESPONSE", message, broker=broker, ambiguous=True)
