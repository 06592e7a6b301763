"""trade_history: what each reduce or close realized."""

from __future__ import annotations

import builtins
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, func, insert, select, update

from db.models import RealizedByDayRow, TradeRow, table_of
from db.repositories.base import Repository
from db.types import join_exact, split_exact
from trading.domain.records import BotTradeTotals, DayRealized, TradeRecord
from trading.domain.values import PositionSide

TRADES = table_of(TradeRow)
DAYS = table_of(RealizedByDayRow)
_DAY = timedelta(days=1)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_ADD = insert(TRADES).returning(TRADES.c.id)
# Trades of part of a day: one aggregate over the covering index (bot_id, closed_at,
# realized_whole, realized_frac), exact because it adds integers.
_REALIZED_BETWEEN = select(
    func.coalesce(func.sum(TRADES.c.realized_whole), 0), func.coalesce(func.sum(TRADES.c.realized_frac), 0)
).where(
    TRADES.c.bot_id == bindparam("bot_id"),
    TRADES.c.closed_at >= bindparam("since"),
    TRADES.c.closed_at < bindparam("until"),
)
# One account's trades (a bot on several accounts): from the trades, the day rows being the bot's.
_REALIZED_ON_ACCOUNT = _REALIZED_BETWEEN.where(TRADES.c.account == bindparam("account"))
# Whole days: one row per day, whatever the number of trades.
_REALIZED_DAYS_FROM = select(
    func.coalesce(func.sum(DAYS.c.realized_whole), 0), func.coalesce(func.sum(DAYS.c.realized_frac), 0)
).where(DAYS.c.bot_id == bindparam("bot_id"), DAYS.c.day >= bindparam("day"))
_ADD_TO_DAY = (
    update(DAYS)
    .where(DAYS.c.bot_id == bindparam("of_bot"), DAYS.c.day == bindparam("of_day"))
    .values(
        realized_whole=DAYS.c.realized_whole + bindparam("whole", type_=DAYS.c.realized_whole.type),
        realized_frac=DAYS.c.realized_frac + bindparam("frac", type_=DAYS.c.realized_frac.type),
    )
)


def _midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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
        account=m["account"],
    )


class SqlTradeRepository(Repository):
    async def add(self, trade: TradeRecord) -> TradeRecord:
        s = self._uow
        values = {f.name: getattr(trade, f.name) for f in dataclasses.fields(trade) if f.name != "id"}
        values["side"] = trade.side.value
        values["realized_whole"], values["realized_frac"] = split_exact(trade.realized_pnl)
        trade_id = (await s.execute(_ADD, values)).scalar_one()
        day = _midnight(trade.closed_at)
        # The day's row exists (created once, safely under concurrency), then grows in place:
        # on PostgreSQL the UPDATE's row lock orders concurrent trades of one bot.
        await self._insert_new(
            DAYS, {"bot_id": trade.bot_id, "day": day}, {"realized_whole": 0, "realized_frac": 0}, DAYS.c.id
        )
        params = {
            "of_bot": trade.bot_id,
            "of_day": day,
            "whole": values["realized_whole"],
            "frac": values["realized_frac"],
        }
        await s.execute(_ADD_TO_DAY, params)
        return dataclasses.replace(trade, id=trade_id)

    async def list(
        self, *, bot_id: int | None = None, since: datetime | None = None, limit: int = 50, account: str | None = None
    ) -> builtins.list[TradeRecord]:
        s = self._uow
        stmt = select(TRADES)
        if bot_id is not None:
            stmt = stmt.where(TRADES.c.bot_id == bot_id)
        if account is not None:
            stmt = stmt.where(func.lower(TRADES.c.account) == account.lower())
        if since is not None:
            stmt = stmt.where(TRADES.c.closed_at >= since)
        rows = await s.execute(stmt.order_by(TRADES.c.closed_at.desc(), TRADES.c.id.desc()).limit(limit))
        return [_to_record(r) for r in rows]

    async def realized_since(self, bot_id: int, since: datetime, *, account: str | None = None) -> Decimal:
        """The trades closed at or after `since`: from the daily totals for whole days (the
        daily loss check asks from midnight: one row), and from the trades of a partial first day.
        With `account`, only the trades made on it."""
        s = self._uow
        if account is not None:
            params = {"bot_id": bot_id, "since": since, "until": _FAR_FUTURE, "account": account}
            whole, frac = (await s.execute(_REALIZED_ON_ACCOUNT, params)).one()
            return join_exact(int(whole), int(frac))
        first_whole_day = _midnight(since)
        whole = frac = 0
        if first_whole_day != since:
            first_whole_day += _DAY
            params = {"bot_id": bot_id, "since": since, "until": first_whole_day}
            whole, frac = (await s.execute(_REALIZED_BETWEEN, params)).one()
        days_whole, days_frac = (await s.execute(_REALIZED_DAYS_FROM, {"bot_id": bot_id, "day": first_whole_day})).one()
        return join_exact(int(whole) + int(days_whole), int(frac) + int(days_frac))

    async def realized_by_day(self, *, since: datetime | None = None) -> builtins.list[DayRealized]:
        s = self._uow
        stmt = select(DAYS.c.bot_id, DAYS.c.day, DAYS.c.realized_whole, DAYS.c.realized_frac)
        if since is not None:
            stmt = stmt.where(DAYS.c.day >= _midnight(since))
        rows = await s.execute(stmt.order_by(DAYS.c.day, DAYS.c.bot_id))
        return [DayRealized(r.bot_id, r.day, join_exact(int(r.realized_whole), int(r.realized_frac))) for r in rows]

    async def totals_by_bot(self) -> builtins.list[BotTradeTotals]:
        s = self._uow
        # realized_whole is floor(pnl): a loss has whole < 0 (-0.50 is whole -1, frac 0.50);
        # a win has whole > 0, or whole 0 and frac > 0.
        win = case(
            (TRADES.c.realized_whole > 0, 1),
            (and_(TRADES.c.realized_whole == 0, TRADES.c.realized_frac > 0), 1),
            else_=0,
        )
        loss = case((TRADES.c.realized_whole < 0, 1), else_=0)
        stmt = (
            select(
                TRADES.c.bot_id,
                TRADES.c.account,
                func.count(),
                func.coalesce(func.sum(win), 0),
                func.coalesce(func.sum(loss), 0),
                func.coalesce(func.sum(TRADES.c.realized_whole), 0),
                func.coalesce(func.sum(TRADES.c.realized_frac), 0),
            )
            .group_by(TRADES.c.bot_id, TRADES.c.account)
            .order_by(TRADES.c.bot_id, TRADES.c.account)
        )
        return [
            BotTradeTotals(int(bot_id), int(n), int(wins), int(losses), join_exact(int(whole), int(frac)), account)
            for bot_id, account, n, wins, losses, whole, frac in await s.execute(stmt)
        ]
