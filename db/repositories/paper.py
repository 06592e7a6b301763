"""paper_accounts, paper_positions, paper_orders: the paper broker's book (PaperLedger)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, delete, select

from db.errors import DuplicateOrder
from db.models import PaperAccountRow, PaperOrderRow, PaperPositionRow, table_of
from db.repositories.base import Repository
from trading.domain.market import BrokerOrder, BrokerOrderStatus
from trading.domain.records import PaperAccountState
from trading.domain.values import OrderSide, OrderType

ACCOUNTS = table_of(PaperAccountRow)
POSITIONS = table_of(PaperPositionRow)
ORDERS = table_of(PaperOrderRow)
_ACCOUNT = select(ACCOUNTS).where(ACCOUNTS.c.account_id == bindparam("account_id"))
_POSITIONS = select(POSITIONS).where(POSITIONS.c.account_id == bindparam("account_id"))
_DROP_POSITIONS_NOT_IN = delete(POSITIONS).where(
    POSITIONS.c.account_id == bindparam("account_id"),
    POSITIONS.c.symbol.not_in(bindparam("symbols", expanding=True)),
)
_CLASHING_ORDER = select(ORDERS.c.order_id).where(
    ORDERS.c.account_id == bindparam("account_id"),
    ORDERS.c.client_order_id == bindparam("client_order_id"),
    ORDERS.c.order_id != bindparam("order_id"),
)
_ORDER_BY_CLIENT_ID = select(ORDERS).where(
    ORDERS.c.account_id == bindparam("account_id"), ORDERS.c.client_order_id == bindparam("client_order_id")
)
_ORDER_BY_ID = select(ORDERS).where(
    ORDERS.c.account_id == bindparam("account_id"), ORDERS.c.order_id == bindparam("order_id")
)


def _to_order(row: Row[Any]) -> BrokerOrder:
    m = row._mapping
    return BrokerOrder(
        order_id=m["order_id"],
        client_order_id=m["client_order_id"],
        symbol=m["symbol"],
        side=OrderSide(m["side"]),
        type=OrderType(m["type"]),
        quantity=m["quantity"],
        status=BrokerOrderStatus(m["status"]),
        filled_quantity=m["filled_quantity"],
        average_fill_price=m["average_fill_price"],
        limit_price=m["limit_price"],
        time_in_force=m["time_in_force"],
        reduce_only=m["reduce_only"],
        reject_reason=m["reject_reason"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        extra=dict(m["extra"] or {}),
    )


class SqlPaperLedger(Repository):
    async def load(self, account_id: str) -> PaperAccountState | None:
        s = self._uow
        account = (await s.execute(_ACCOUNT, {"account_id": account_id})).first()
        if account is None:
            return None
        rows = await s.execute(_POSITIONS, {"account_id": account_id})
        return PaperAccountState(
            account_id=account.account_id,
            currency=account.currency,
            balance=account.balance,
            positions={r.symbol: (r.quantity, r.average_price) for r in rows},
        )

    async def save(self, state: PaperAccountState) -> None:
        s = self._uow
        await self._upsert(
            ACCOUNTS, {"account_id": state.account_id}, {"currency": state.currency, "balance": state.balance}
        )
        # The book is the dict: positions no longer in it are gone.
        await s.execute(_DROP_POSITIONS_NOT_IN, {"account_id": state.account_id, "symbols": list(state.positions)})
        for symbol, (quantity, average) in state.positions.items():
            await self._upsert(
                POSITIONS,
                {"account_id": state.account_id, "symbol": symbol},
                {"quantity": quantity, "average_price": average},
            )

    async def add_order(self, account_id: str, order: BrokerOrder) -> None:
        """Store the order, or update it when its order id is stored already (a paper
        limit order fills later). A second order with the same client id is refused."""
        s = self._uow
        params = {"account_id": account_id, "client_order_id": order.client_order_id, "order_id": order.order_id}
        clash = (await s.execute(_CLASHING_ORDER, params)).scalar_one_or_none()
        if clash is not None:
            raise DuplicateOrder(order.client_order_id)
        values = {
            "symbol": order.symbol,
            "side": order.side.value,
            "type": order.type.value,
            "quantity": order.quantity,
            "status": order.status.value,
            "filled_quantity": order.filled_quantity,
            "average_fill_price": order.average_fill_price,
            "limit_price": order.limit_price,
            "time_in_force": order.time_in_force,
            "reduce_only": order.reduce_only,
            "reject_reason": order.reject_reason,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
            "extra": dict(order.extra),
        }
        values["client_order_id"] = order.client_order_id
        await self._upsert(ORDERS, {"account_id": account_id, "order_id": order.order_id}, values)

    async def find_order(self, account_id: str, client_order_id: str) -> BrokerOrder | None:
        s = self._uow
        params = {"account_id": account_id, "client_order_id": client_order_id}
        row = (await s.execute(_ORDER_BY_CLIENT_ID, params)).first()
        return None if row is None else _to_order(row)

    async def get_order(self, account_id: str, order_id: str) -> BrokerOrder | None:
        s = self._uow
        row = (await s.execute(_ORDER_BY_ID, {"account_id": account_id, "order_id": order_id})).first()
        return None if row is None else _to_order(row)
