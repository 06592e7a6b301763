"""The broker port's error types: what a broker adapter raises, told apart by class only.

Every failure of a broker call is a BrokerFailure, and is one of two kinds:

- BrokerRefusal: the broker answered and did nothing. Final: the same request fails the
  same way again, so an order refused is rejected for good.
- BrokerUnavailable: the outcome is unknown (connect error, timeout, 429, 5xx, an answer
  that could not be read). Retryable: an order may or may not have been placed and is
  looked up by its client order id before anything is sent again.

Adapters (brokers/) raise subclasses carrying their own codes. An exception from a broker
that is neither is a bug in the adapter; the service layer treats it as an unknown outcome.
"""

from __future__ import annotations


class BrokerFailure(Exception):
    """Any failure talking to a broker; `code` names it (the broker's code, or ours)."""

    code: str = "BROKER_ERROR"


class BrokerRefusal(BrokerFailure):
    """The broker answered and did nothing (a final 4xx such as QUANTITY_OUT_OF_RANGE)."""

    code = "BROKER_REFUSED"


class WouldNotReduce(BrokerRefusal):
    """A reduce-only order refused because it would not reduce the broker's position: the
    broker's position is not what we hold, so the symbol should be reconciled now."""

    code = "REDUCE_ONLY_REJECTED"


class BrokerUnavailable(BrokerFailure):
    """Retryable, outcome unknown: connect error, timeout, 429, 5xx; the request may or may
    not have been acted on."""

    code = "BROKER_UNAVAILABLE"
