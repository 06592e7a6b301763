"""Small value types shared by the whole domain."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def opposite(self) -> PositionSide:
        return PositionSide.SHORT if self is PositionSide.LONG else PositionSide.LONG

    @property
    def sign(self) -> int:
        return 1 if self is PositionSide.LONG else -1

    @property
    def opening_order_side(self) -> OrderSide:
        return OrderSide.BUY if self is PositionSide.LONG else OrderSide.SELL

    @property
    def closing_order_side(self) -> OrderSide:
        return OrderSide.SELL if self is PositionSide.LONG else OrderSide.BUY


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opens(self) -> PositionSide:
        """The position side this order side opens or adds to."""
        return PositionSide.LONG if self is OrderSide.BUY else PositionSide.SHORT


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class Mode(StrEnum):
    AUTO = "auto"
    APPROVE = "approve"


class BrokerName(StrEnum):
    HERENYA = "Herenya"
    PAPER = "Paper"


ZERO = Decimal(0)
