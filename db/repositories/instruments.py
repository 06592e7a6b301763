"""instruments: the broker's contract specifications, cached."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from db.models import InstrumentRow, table_of
from db.repositories.base import Repository
from trading.domain.market import Instrument

INSTRUMENTS = table_of(InstrumentRow)
_FIELDS = (
    "min_quantity",
    "max_quantity",
    "quantity_step",
    "tick_size",
    "contract_multiplier",
    "currency",
    "description",
    "trading_open",
)

_GET = select(INSTRUMENTS).where(INSTRUMENTS.c.symbol == bindparam("symbol"))


class SqlInstrumentRepository(Repository):
    async def get(self, symbol: str) -> Instrument | None:
        s = self._uow
        row = (await s.execute(_GET, {"symbol": symbol})).first()
        if row is None:
            return None
        return Instrument(symbol=row.symbol, **{f: getattr(row, f) for f in _FIELDS})

    async def upsert(self, instrument: Instrument) -> None:
        values = {f: getattr(instrument, f) for f in _FIELDS} | {"updated_at": self._now()}
        await self._upsert(INSTRUMENTS, {"symbol": instrument.symbol}, values)
