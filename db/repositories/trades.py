"""trade_history: what each reduce or close realized."""

from __future__ import annotations

import builtins
import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select

from db.models import TradeRow
from db.repositories.base import Repository
from db.types import join_exact, split_exact
from trading.domain.records import TradeRecord
from trading.domain.values import PositionSide

TRADES = TradeRow.__table__
_ADD = insert(TRADES).returning(TRADES.c.id)
# One aggregate over the covering index (bot_id, closed_at, realized_whole, realized_frac):
# the same statement on both databases, exact because it adds integers.
_REALIZED_SINCE = select(
    func.coalesce(func.sum(TRADES.c.realized_whole), 0), func.coalesce(func.sum(TRADES.c.realized_frac), 0)
).where(TRADES.c.bot_id == bindparam("bot_id"), TRADES.c.closed_at >= bindparam("since"))


def _to_record(row: Row[Any]) -> TradeRecord:
    m = row._mapping
    return TradeRecord(
        id=m["id"],
        bot_id=m["bot_id"],
        bot_name=m["bot_name"],
        symbol=m["symbol"],
        side=PositionSide(m["side"]),
        quantity=m["quantity"],
        entry_price=m["entry_price"],
        exit_price=m["exit_price"],
        realized_pnl=m["realized_pnl"],
        opened_at=m["opened_at"],
        closed_at=m["closed_at"],
        position_closed=m["position_closed"],
        signal_id=m["signal_id"],
        client_order_id=m["client_order_id"],
    )


class SqlTradeRepository(Repository):
    async def add(self, trade: TradeRecord) -> TradeRecord:
        s = self._uow
        values = {f.name: getattr(trade, f.name) for f in dataclasses.fields(trade) if f.name != "id"}
        values["side"] = trade.side.value
        values["realized_whole"], values["realized_frac"] = split_exact(trade.realized_pnl)
        trade_id = (await s.execute(_ADD, values)).scalar_one()
        return dataclasses.replace(trade, id=trade_id)

    async def list(
        self, *, bot_id: int | None = None, since: datetime | None = None, limit: int = 50
    ) -> builtins.list[TradeRecord]:
        s = self._uow
        stmt = select(TRADES)
        if bot_id is not None:
            stmt = stmt.where(TRADES.c.bot_id == bot_id)
        if since is not None:
            stmt = stmt.where(TRADES.c.closed_at >= since)
        rows = await s.execute(stmt.order_by(TRADES.c.closed_at.desc(), TRADES.c.id.desc()).limit(limit))
        return [_to_record(r) for r in rows]

    async def realized_since(self, bot_id: int, since: datetime) -> Decimal:
        s = self._uow
        whole, frac = (await s.execute(_REALIZED_SINCE, {"bot_id": bot_id, "since": since})).one()
        return join_exact(int(whole), int(frac))
