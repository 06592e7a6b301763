"""candles: the one-minute candles of the prices the desk saw (trading/services/candles.py).

Not one of the unit of work's repositories: candles are written in batches of their own
(one statement with many rows a flush) and read for the ledger and the export, never inside
a trading transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from db.models import CandleRow, table_of
from trading.domain.candles import Candle, SymbolCandle

if TYPE_CHECKING:
    from db.database import Database

CANDLES: Table = table_of(CandleRow)
_PRICES = ("open", "high", "low", "close")

_BETWEEN = (
    select(CANDLES)
    .where(
        CANDLES.c.symbol == bindparam("symbol"),
        CANDLES.c.start >= bindparam("since"),
        CANDLES.c.start < bindparam("until"),
    )
    .order_by(CANDLES.c.start)
)
_OLDER = delete(CANDLES).where(CANDLES.c.start < bindparam("cutoff"))


def _upsert(dialect_insert: Any) -> Any:
    # The process that saw a minute holds its whole candle (trading/domain/candles.py), so a
    # later write of the same minute replaces the earlier one.
    stmt = dialect_insert(CANDLES)
    return stmt.on_conflict_do_update(
        index_elements=[CANDLES.c.symbol, CANDLES.c.start], set_={p: stmt.excluded[p] for p in _PRICES}
    )


_UPSERT_PG = _upsert(postgresql.insert)
_UPSERT_SQLITE = _upsert(sqlite.insert)
# Candles fetched from an exchange fill gaps only: a minute stored already is the desk's own.
_ADD_MISSING_PG = postgresql.insert(CANDLES).on_conflict_do_nothing(index_elements=[CANDLES.c.symbol, CANDLES.c.start])
_ADD_MISSING_SQLITE = sqlite.insert(CANDLES).on_conflict_do_nothing(index_elements=[CANDLES.c.symbol, CANDLES.c.start])


class SqlCandleStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def save(self, candles: Sequence[SymbolCandle]) -> None:
        """Store these candles (replacing stored ones of the same symbol and minute): one
        statement, one transaction."""
        await self._write(_UPSERT_PG if self._database.is_postgresql else _UPSERT_SQLITE, candles)

    async def add_missing(self, candles: Sequence[SymbolCandle]) -> None:
        """Store the candles of minutes the store has none of (the others are left as
        stored): one statement, one transaction."""
        await self._write(_ADD_MISSING_PG if self._database.is_postgresql else _ADD_MISSING_SQLITE, candles)

    async def _write(self, stmt: Any, candles: Sequence[SymbolCandle]) -> None:
        if not candles:
            return
        rows = [
            {
                "symbol": c.symbol,
                "start": c.candle.time,
                "open": c.candle.open,
                "high": c.candle.high,
                "low": c.candle.low,
                "close": c.candle.close,
            }
            for c in candles
        ]
        async with self._database.uow() as uow:
            await uow.execute(stmt, rows)
            await uow.commit()

    async def between(self, symbol: str, since: datetime, until: datetime) -> list[Candle]:
        """The stored candles of `symbol` starting in [since, until), in time order."""
        async with self._database.uow(read_only=True) as uow:
            result = await uow.execute(_BETWEEN, {"symbol": symbol, "since": since, "until": until})
            return [Candle(r.start, r.open, r.high, r.low, r.close) for r in result.all()]

    async def delete_older_than(self, cutoff: datetime) -> int:
        async with self._database.uow() as uow:
            result = await uow.execute(_OLDER, {"cutoff": cutoff})
            await uow.commit()
        return int(result.rowcount or 0)
