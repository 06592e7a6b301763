"""orders: our record of every order, keyed by its client_order_id."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, distinct, func, insert, select
from sqlalchemy.exc import IntegrityError

from db.errors import DuplicateOrder, NotFound
from db.models import OrderRow, table_of
from db.repositories.base import Repository
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.records import OrderRecord
from trading.domain.values import ZERO, OrderSide, OrderType, PositionSide

ORDERS = table_of(OrderRow)
# What an update may change: everything but identity, owner and creation time.
_MUTABLE = (
    "leg_index",
    "leg_kind",
    "position_side",
    "symbol",
    "side",
    "quantity",
    "type",
    "limit_price",
    "reduce_only",
    "status",
    "broker_order_id",
    "filled_quantity",
    "average_fill_price",
    "applied_quantity",
    "applied_cost",
    "error",
)


_FOR_SIGNAL = (
    select(ORDERS).where(ORDERS.c.signal_id == bindparam("signal_id")).order_by(ORDERS.c.leg_index, ORDERS.c.id)
)
_ADD_MANY = insert(ORDERS)
_ENTRIES_SINCE = select(func.count(distinct(ORDERS.c.signal_id))).where(
    ORDERS.c.bot_id == bindparam("bot_id"),
    ORDERS.c.created_at >= bindparam("since"),
    ORDERS.c.leg_kind.in_([LegKind.OPEN.value, LegKind.ADD.value]),
    ORDERS.c.filled_quantity > ZERO,
)
_BY_CLIENT_ID = select(ORDERS).where(ORDERS.c.client_order_id == bindparam("client_order_id"))


def _values(order: OrderRecord) -> dict[str, Any]:
    return {name: getattr(getattr(order, name), "value", getattr(order, name)) for name in _MUTABLE}


def _to_record(row: Row[Any]) -> OrderRecord:
    m = row._mapping
    return OrderRecord(
        id=m["id"],
        signal_id=m["signal_id"],
        bot_id=m["bot_id"],
        client_order_id=m["client_order_id"],
        leg_index=m["leg_index"],
        leg_kind=LegKind(m["leg_kind"]),
        position_side=PositionSide(m["position_side"]),
        symbol=m["symbol"],
        side=OrderSide(m["side"]),
        quantity=m["quantity"],
        type=OrderType(m["type"]),
        limit_price=m["limit_price"],
        reduce_only=m["reduce_only"],
        status=OrderStatus(m["status"]),
        broker_order_id=m["broker_order_id"],
        filled_quantity=m["filled_quantity"],
        average_fill_price=m["average_fill_price"],
        applied_quantity=m["applied_quantity"],
        applied_cost=m["applied_cost"],
        error=m["error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


class SqlOrderRepository(Repository):
    async def add(self, order: OrderRecord) -> OrderRecord:
        """Store a new order; DuplicateOrder when its client_order_id exists already."""
        created = order.created_at or self._now()
        updated = order.updated_at or created
        values = {"signal_id": order.signal_id, "bot_id": order.bot_id, "created_at": created, "updated_at": updated}
        order_id = await self._insert_new(
            ORDERS, {"client_order_id": order.client_order_id}, values | _values(order), ORDERS.c.id
        )
        if order_id is None:
            raise DuplicateOrder(order.client_order_id)
        return dataclasses.replace(order, id=order_id, created_at=created, updated_at=updated)

    async def add_many(self, orders: Sequence[OrderRecord]) -> builtins.list[OrderRecord]:
        """Store new orders with one statement; DuplicateOrder (and the transaction is
        spoiled) when a client_order_id exists already. The orders come back without their
        row ids (they are known by their client order ids)."""
        if not orders:
            return []
        rows: builtins.list[dict[str, Any]] = []
        stamps: builtins.list[tuple[datetime, datetime]] = []
        for order in orders:
            created = order.created_at or self._now()
            updated = order.updated_at or created
            stamps.append((created, updated))
            rows.append(
                {
                    "signal_id": order.signal_id,
                    "bot_id": order.bot_id,
                    "client_order_id": order.client_order_id,
                    "created_at": created,
                    "updated_at": updated,
                }
                | _values(order)
            )
        try:
            await self._uow.execute(_ADD_MANY, rows)
        except IntegrityError as e:
            raise DuplicateOrder(", ".join(o.client_order_id for o in orders)) from e
        return [
            dataclasses.replace(order, created_at=created, updated_at=updated)
            for order, (created, updated) in zip(orders, stamps, strict=True)
        ]

    async def get(self, client_order_id: str) -> OrderRecord | None:
        s = self._uow
        row = (await s.execute(_BY_CLIENT_ID, {"client_order_id": client_order_id})).first()
        return None if row is None else _to_record(row)

    async def update(self, order: OrderRecord) -> None:
        values = _values(order) | {"updated_at": order.updated_at or self._now()}
        result = await self._update(ORDERS, {"client_order_id": order.client_order_id}, values)
        if result.rowcount != 1:
            raise NotFound(f"no order with client_order_id {order.client_order_id!r} to update")

    async def entries_since(self, bot_id: int, since: datetime) -> int:
        return int((await self._uow.execute(_ENTRIES_SINCE, {"bot_id": bot_id, "since": since})).scalar_one())

    async def list_for_signal(self, signal_id: int) -> builtins.list[OrderRecord]:
        s = self._uow
        rows = await s.execute(_FOR_SIGNAL, {"signal_id": signal_id})
        return [_to_record(r) for r in rows]
