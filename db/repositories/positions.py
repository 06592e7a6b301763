"""current_positions + position_entries + fills: a bot's position, changed only by fills.

`get` rebuilds the Position from its entries and the stored average; its
applied_fill_ids hold the fill ids of the entries still open only. The unique fill_id of
the fills table is what refuses a fill applied twice (add_fill returns False).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, delete, exists, insert, select

from db.models import CurrentPositionRow, FillRow, InstrumentRow, PositionEntryRow, table_of
from db.repositories.base import Repository
from trading.domain.position import Entry, Fill, Position
from trading.domain.records import FillRecord
from trading.domain.values import ZERO, OrderSide, PositionSide

POSITIONS = table_of(CurrentPositionRow)
ENTRIES = table_of(PositionEntryRow)
FILLS = table_of(FillRow)
INSTRUMENTS = table_of(InstrumentRow)

# Built once: building a statement costs more than running it.
_KEY = (
    POSITIONS.c.bot_id == bindparam("bot_id"),
    POSITIONS.c.account == bindparam("account"),
    POSITIONS.c.symbol == bindparam("symbol"),
)
_GET_FOR_UPDATE = select(POSITIONS).where(*_KEY).with_for_update()
# The position with its entries in one statement: a row per entry (one with no entry when it has none).
_GET_WITH_ENTRIES = (
    select(
        POSITIONS,
        ENTRIES.c.fill_id.label("entry_fill_id"),
        ENTRIES.c.quantity.label("entry_quantity"),
        ENTRIES.c.price.label("entry_price"),
        ENTRIES.c.time.label("entry_time"),
    )
    .outerjoin(ENTRIES, ENTRIES.c.position_id == POSITIONS.c.id)
    .where(*_KEY)
    .order_by(ENTRIES.c.seq)
)
_FILL_COLUMNS = ("fill_id", "bot_id", "client_order_id", "side", "quantity", "price", "time", "recorded_at")
# Inserts the fill unless its id was recorded before: one statement, the same on both
# databases (the unique fill_id stays the last guard).
_ADD_FILL: Any = insert(FILLS).from_select(
    _FILL_COLUMNS,
    select(*(bindparam(name, type_=FILLS.c[name].type) for name in _FILL_COLUMNS)).where(
        ~exists().where(FILLS.c.fill_id == bindparam("fill_id"))
    ),
)
_ENTRIES = (
    select(ENTRIES)
    .where(ENTRIES.c.position_id.in_(bindparam("ids", expanding=True)))
    .order_by(ENTRIES.c.position_id, ENTRIES.c.seq)
)
_DROP_ENTRIES = delete(ENTRIES).where(ENTRIES.c.position_id == bindparam("position_id"))
_ADD_ENTRIES = insert(ENTRIES)
_OPEN = (
    select(POSITIONS, INSTRUMENTS.c.contract_multiplier)
    .outerjoin(INSTRUMENTS, INSTRUMENTS.c.symbol == POSITIONS.c.symbol)
    .where(POSITIONS.c.quantity > ZERO)
    .order_by(POSITIONS.c.bot_id, POSITIONS.c.account, POSITIONS.c.symbol)
)


def _build(row: Row[Any], entries: builtins.list[Entry], multiplier: Decimal) -> Position:
    if not entries or row.side is None:
        return Position(
            symbol=row.symbol,
            multiplier=multiplier,
            realized_pnl=row.realized_pnl,
            account=row.account,
        )
    return Position.from_entries(
        row.symbol,
        PositionSide(row.side),
        entries,
        multiplier=multiplier,
        average_price=row.average_price,
        realized_pnl=row.realized_pnl,
        stop_loss=row.stop_loss,
        take_profit=row.take_profit,
        opened_at=row.opened_at or min(e.time for e in entries),
        trailing_pct=row.trailing_stop_pct,
        account=row.account,
    )


class SqlPositionRepository(Repository):
    async def get(
        self, bot_id: int, symbol: str, *, account: str, multiplier: Decimal, for_update: bool = True
    ) -> Position:
        s = self._uow
        key = {"bot_id": bot_id, "account": account, "symbol": symbol}
        if not for_update:
            rows = (await s.execute(_GET_WITH_ENTRIES, key)).all()
            if not rows:
                return Position.flat(symbol, multiplier, account)
            held = [
                Entry(r.entry_fill_id, r.entry_quantity, r.entry_price, r.entry_time)
                for r in rows
                if r.entry_fill_id is not None
            ]
            return _build(rows[0], held, multiplier)
        # The runner runs one signal per bot at a time; FOR UPDATE (PostgreSQL) guards
        # against anything else changing the position meanwhile. SQLite's writer lock does.
        stmt = _GET_FOR_UPDATE
        row = (await s.execute(stmt, key)).first()
        if row is None and for_update and self._is_postgresql:
            # FOR UPDATE needs a row to lock, so a flat position gets one (once per bot and symbol).
            await self._insert_new(
                POSITIONS,
                key,
                {"quantity": ZERO, "realized_pnl": ZERO, "updated_at": self._now()},
                POSITIONS.c.id,
            )
            row = (await s.execute(stmt, key)).first()
        if row is None:
            return Position.flat(symbol, multiplier, account)
        entries = await self._entries([row.id])
        return _build(row, entries[row.id], multiplier)

    async def _entries(self, position_ids: builtins.list[int]) -> dict[int, builtins.list[Entry]]:
        out: dict[int, builtins.list[Entry]] = {i: [] for i in position_ids}
        if not position_ids:
            return out
        s = self._uow
        rows = await s.execute(_ENTRIES, {"ids": position_ids})
        for r in rows:
            out[r.position_id].append(Entry(r.fill_id, r.quantity, r.price, r.time))
        return out

    async def save(self, bot_id: int, position: Position, *, was_flat: bool = False) -> None:
        if not position.account:
            # A position read from here carries its account; one without was built by hand.
            raise ValueError(f"bot {bot_id}'s {position.symbol} position names no account; it cannot be stored")
        s = self._uow
        values = {
            "side": position.side.value if position.side else None,
            "quantity": position.quantity,
            "average_price": position.average_price,
            "stop_loss": position.stop_loss,
            "take_profit": position.take_profit,
            "trailing_stop_pct": position.trailing_pct,
            "realized_pnl": position.realized_pnl,
            "opened_at": position.opened_at,
            "updated_at": self._now(),
        }
        position_id = await self._upsert(
            POSITIONS,
            {"bot_id": bot_id, "account": position.account, "symbol": position.symbol},
            values,
            POSITIONS.c.id,
        )
        if not was_flat:  # a flat position has no entries stored (saving it flat removed them)
            await s.execute(_DROP_ENTRIES, {"position_id": position_id})
        if position.entries:
            await s.execute(
                _ADD_ENTRIES,
                [
                    {
                        "position_id": position_id,
                        "seq": seq,
                        "fill_id": e.fill_id,
                        "quantity": e.quantity,
                        "price": e.price,
                        "time": e.time,
                    }
                    for seq, e in enumerate(position.entries)
                ],
            )

    async def add_fill(self, bot_id: int, order_client_id: str, fill: Fill) -> bool:
        values = {
            "fill_id": fill.fill_id,
            "bot_id": bot_id,
            "client_order_id": order_client_id,
            "side": fill.side.value,
            "quantity": fill.quantity,
            "price": fill.price,
            "time": fill.time,
            "recorded_at": self._now(),
        }
        return bool((await self._uow.execute(_ADD_FILL, values)).rowcount == 1)

    async def list_open(self) -> builtins.list[tuple[int, Position]]:
        s = self._uow
        rows = (await s.execute(_OPEN)).all()
        entries = await self._entries([r.id for r in rows])
        return [(r.bot_id, _build(r, entries[r.id], r.contract_multiplier or Decimal(1))) for r in rows]

    async def fills_for_orders(self, client_order_ids: Sequence[str]) -> builtins.list[FillRecord]:
        if not client_order_ids:
            return []
        s = self._uow
        stmt = select(FILLS).where(FILLS.c.client_order_id.in_(list(client_order_ids))).order_by(FILLS.c.id)
        return [
            FillRecord(r.client_order_id, r.fill_id, OrderSide(r.side), r.quantity, r.price, r.time)
            for r in await s.execute(stmt)
        ]
