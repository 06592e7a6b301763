"""GET /api/edge: the decision ledger's query and answer (docs/ledger.md). Money is a
decimal string, exact; `edge` is desk_pnl − bot_alone_pnl."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema, field_validator

from trading.replay.ledger import DECISION_KINDS, ApproverLedger, BotLedger
from trading.services.ledger import MAX_DAYS
from web.schemas.query_strings import BotQuery, _whole_number


def _exact(value: Decimal) -> str:
    """The exact amount without the trailing zeros sums of prices pick up ("39", not "39.0")."""
    return "0" if value == 0 else format(value.normalize(), "f")


Money = Annotated[
    Decimal,
    PlainSerializer(_exact, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}),
]


class EdgeQuery(BotQuery):
    days: int = Field(default=30, ge=1, le=MAX_DAYS, description="the last this many days (default 30)")

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> int:
        return _whole_number("days", value, 1, MAX_DAYS, f"a whole number from 1 to {MAX_DAYS}")


class DecisionsOut(BaseModel):
    approved: int
    edited: int
    rejected: int
    expired: int

    @classmethod
    def of(cls, counts: dict[str, int]) -> DecisionsOut:
        return cls(**{k: counts.get(k, 0) for k in DECISION_KINDS})


class BotEdgeOut(BaseModel):
    bot: str
    decisions: DecisionsOut
    desk_pnl: Money
    bot_alone_pnl: Money
    edge: Money
    open_shadows: int = Field(description="shadows still open, marked to the last candle's close")
    excluded: int = Field(description="shadows left out of the totals: candles missing for part of their life")

    @classmethod
    def of(cls, ledger: BotLedger) -> BotEdgeOut:
        return cls(
            bot=ledger.bot,
            decisions=DecisionsOut.of(ledger.decisions),
            desk_pnl=ledger.desk_pnl,
            bot_alone_pnl=ledger.bot_alone_pnl,
            edge=ledger.edge,
            open_shadows=ledger.open_shadows,
            excluded=len(ledger.excluded),
        )


class ApproverEdgeOut(BaseModel):
    approver: str
    decisions: DecisionsOut
    median_seconds_to_decide: float | None
    rejections: Money = Field(description="what this approver's rejections saved (+) or cost (-)")
    edits: Money = Field(description="what this approver's edits added (+) or cost (-)")

    @classmethod
    def of(cls, row: ApproverLedger) -> ApproverEdgeOut:
        return cls(
            approver=row.approver,
            decisions=DecisionsOut.of(row.decisions),
            median_seconds_to_decide=row.median_seconds_to_decide,
            rejections=row.rejections,
            edits=row.edits,
        )


class EdgeOut(BaseModel):
    bots: list[BotEdgeOut]
    approvers: list[ApproverEdgeOut]
