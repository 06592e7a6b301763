"""exit_watches: the stop monitor's record of each watched position."""

from __future__ import annotations

import builtins
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, select

from db.models import ExitWatchRow
from db.repositories.base import Repository
from trading.domain.exits import ExitWatch

WATCHES: Table = cast(Table, ExitWatchRow.__table__)

_KEY = (
    WATCHES.c.bot_id == bindparam("bot_id"),
    WATCHES.c.account == bindparam("account"),
    WATCHES.c.symbol == bindparam("symbol"),
)
_GET = select(WATCHES).where(*_KEY)
_ALL = select(WATCHES).order_by(WATCHES.c.bot_id, WATCHES.c.account, WATCHES.c.symbol)
_OF_BOT = select(WATCHES).where(WATCHES.c.bot_id == bindparam("bot_id")).order_by(WATCHES.c.account, WATCHES.c.symbol)
_DELETE = delete(WATCHES).where(*_KEY)


def _watch(row: Row[Any]) -> ExitWatch:
    return ExitWatch(
        bot_id=row.bot_id,
        symbol=row.symbol,
        opened_at=row.opened_at,
        attempts=row.attempts,
        failures=row.failures,
        signal_id=row.signal_id,
        next_attempt_at=row.next_attempt_at,
        stopped=row.stopped,
        trigger=row.trigger,
        quote_misses=row.quote_misses,
        quote_reported=row.quote_reported,
        account=row.account,
    )


class SqlExitWatchRepository(Repository):
    async def get(self, bot_id: int, symbol: str, *, account: str) -> ExitWatch | None:
        row = (await self._uow.execute(_GET, {"bot_id": bot_id, "account": account, "symbol": symbol})).first()
        return _watch(row) if row is not None else None

    async def list(self, *, bot_id: int | None = None) -> builtins.list[ExitWatch]:
        if bot_id is None:
            rows = (await self._uow.execute(_ALL)).all()
        else:
            rows = (await self._uow.execute(_OF_BOT, {"bot_id": bot_id})).all()
        return [_watch(r) for r in rows]

    async def save(self, watch: ExitWatch) -> None:
        values = {
            "opened_at": watch.opened_at,
            "attempts": watch.attempts,
            "failures": watch.failures,
            "signal_id": watch.signal_id,
            "next_attempt_at": watch.next_attempt_at,
            "stopped": watch.stopped,
            "trigger": watch.trigger,
            "quote_misses": watch.quote_misses,
            "quote_reported": watch.quote_reported,
            "updated_at": self._now(),
        }
        if not watch.account:
            raise ValueError(f"bot {watch.bot_id}'s {watch.symbol} exit watch names no account; it cannot be stored")
        await self._upsert(WATCHES, {"bot_id": watch.bot_id, "account": watch.account, "symbol": watch.symbol}, values)

    async def delete(self, bot_id: int, symbol: str, *, account: str) -> None:
        await self._uow.execute(_DELETE, {"bot_id": bot_id, "account": account, "symbol": symbol})
