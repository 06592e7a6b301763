"""Failures the service layer tells apart. Broker adapters raise subclasses of these."""

from __future__ import annotations


class BrokerFailure(Exception):
    """Any failure talking to a broker. Unless it is a BrokerRefusal, the outcome of an
    order request is treated as unknown and looked up by client order id."""

    code: str = "BROKER_ERROR"


class BrokerRefusal(BrokerFailure):
    """The broker answered and did nothing (a final 4xx such as QUANTITY_OUT_OF_RANGE)."""


class BrokerUnavailable(BrokerFailure):
    """Retryable: connect error, timeout, 429, 5xx; the request may or may not have been acted on."""
