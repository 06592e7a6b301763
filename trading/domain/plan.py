"""What the engine returns: ordered legs to send, or an ignore with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from trading.domain.values import OrderSide, PositionSide


class LegKind(StrEnum):
    OPEN = "open"
    ADD = "add"
    REDUCE = "reduce"
    CLOSE = "close"

    @property
    def reduces(self) -> bool:
        return self in (LegKind.REDUCE, LegKind.CLOSE)


@dataclass(frozen=True, slots=True)
class Leg:
    kind: LegKind
    side: OrderSide  # the order's side
    quantity: Decimal
    position_side: PositionSide  # the side of the position this leg opens, adds to or reduces

    @property
    def reduce_only(self) -> bool:
        return self.kind.reduces


@dataclass(frozen=True, slots=True)
class Plan:
    legs: tuple[Leg, ...] = ()
    ignored: str | None = None  # why nothing is to be done, when nothing is
    summary: str = ""  # "open", "add 2 of 3", "close", "reverse", "reduce 1", "breakeven"
    new_stop_loss: Decimal | None = None  # set by breakeven, or by an entry's levels
    new_take_profit: Decimal | None = None
    notes: tuple[str, ...] = field(default=())  # e.g. "quantity cut from 5 to 2 by the instrument maximum"
    # The ignore is a refusal by a rule (an entry sized by risk without a stop), not "nothing to do".
    refused: bool = False
    sizing: str | None = None  # how the entry was sized by risk: the arithmetic, shown on the card

    @property
    def is_ignore(self) -> bool:
        return self.ignored is not None

    @property
    def is_entry(self) -> bool:
        return any(leg.kind in (LegKind.OPEN, LegKind.ADD) for leg in self.legs)

    @classmethod
    def ignore(cls, reason: str) -> Plan:
        return cls(ignored=reason, summary="ignore")

    @classmethod
    def refuse(cls, reason: str) -> Plan:
        return cls(ignored=reason, summary="refuse", refused=True)
