"""exchange_exits: the stop and target orders resting on the exchange for each position."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, select

from db.models import ExchangeExitRow
from db.repositories.base import Repository
from trading.domain.exchange_exits import ExchangeExit, Placement
from trading.domain.values import OrderSide

EXITS: Table = cast(Table, ExchangeExitRow.__table__)

_KEY = (
    EXITS.c.bot_id == bindparam("bot_id"),
    EXITS.c.account == bindparam("account"),
    EXITS.c.symbol == bindparam("symbol"),
)
_GET = select(EXITS).where(*_KEY)
_DELETE = delete(EXITS).where(*_KEY)


def _record(row: Row[Any]) -> ExchangeExit:
    return ExchangeExit(
        bot_id=row.bot_id,
        account=row.account,
        symbol=row.symbol,
        opened_at=row.opened_at,
        base_client_id=row.base_client_id,
        revision=row.revision,
        quantity=row.quantity,
        side=OrderSide(row.side),
        stop_price=row.stop_price,
        target_price=row.target_price,
        placement=Placement(row.placement),
        reason=row.reason,
    )


class SqlExchangeExitRepository(Repository):
    async def get(self, bot_id: int, symbol: str, *, account: str) -> ExchangeExit | None:
        row = (await self._uow.execute(_GET, {"bot_id": bot_id, "account": account, "symbol": symbol})).first()
        return _record(row) if row is not None else None

    async def save(self, record: ExchangeExit) -> None:
        values = {
            "opened_at": record.opened_at,
            "base_client_id": record.base_client_id,
            "revision": record.revision,
            "quantity": record.quantity,
            "side": record.side.value,
            "stop_price": record.stop_price,
            "target_price": record.target_price,
            "placement": record.placement.value,
            "reason": record.reason,
            "updated_at": self._now(),
        }
        key = {"bot_id": record.bot_id, "account": record.account, "symbol": record.symbol}
        await self._upsert(EXITS, key, values)

    async def delete(self, bot_id: int, symbol: str, *, account: str) -> None:
        await self._uow.execute(_DELETE, {"bot_id": bot_id, "account": account, "symbol": symbol})
