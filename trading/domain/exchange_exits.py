"""Stops and targets placed on the exchange: what should rest there for a position, and the
record of what was placed (so a crash, a retry or a restart finds the orders rather than
placing them twice).

Where the account's broker can hold them (the port's `ExitOrders`: a ccxt derivatives
market whose exchange has stop-market and take-profit-market reduce-only orders), a
position's stop and target are a reduce-only stop-market and take-profit-market order for
its whole quantity. They are replaced (cancel, then place under the next revision's client
ids) whenever the quantity or a level changes, and cancelled when the position is closed.
Pure rules: trading/services/exchange_exits.py does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trading.domain.position import Position
from trading.domain.values import OrderSide


class ExitKind(StrEnum):
    STOP = "stop"  # stop-market: closes when the price moves against the position
    TARGET = "target"  # take-profit-market: closes when it moves for it

    @property
    def label(self) -> str:
        return "stop" if self is ExitKind.STOP else "target"


class Placement(StrEnum):
    """Where a record stands."""

    PLACING = "placing"  # stored before sending: the orders may or may not be on the exchange
    PLACED = "placed"  # both (or the one wanted) rest on the exchange
    REFUSED = "refused"  # the exchange refused one: the monitor watches the levels instead


@dataclass(frozen=True, slots=True)
class ExitOrderRequest:
    """A reduce-only stop-market or take-profit-market order for `quantity` of `symbol`."""

    client_order_id: str
    symbol: str
    side: OrderSide  # the side that closes the position
    quantity: Decimal
    trigger_price: Decimal
    kind: ExitKind


@dataclass(frozen=True, slots=True)
class ExchangeExit:
    """The exit orders placed for one position (bot, account, symbol, opened at `opened_at`)."""

    bot_id: int
    account: str
    symbol: str
    opened_at: datetime | None
    base_client_id: str  # the client order id of the entry that opened the position
    revision: int  # bumped at every replacement: the client ids change with it
    quantity: Decimal
    side: OrderSide  # the closing side
    stop_price: Decimal | None
    target_price: Decimal | None
    placement: Placement = Placement.PLACING
    reason: str | None = None  # why the exchange refused, when it did

    def client_id(self, kind: ExitKind) -> str:
        """`<entry's client id>-<revision><s|t>`: the same at every try of this revision."""
        return f"{self.base_client_id}-{self.revision}{kind.value[0]}"

    @property
    def client_ids(self) -> dict[ExitKind, str]:
        """The client ids of the orders this record wants on the exchange."""
        wanted = {ExitKind.STOP: self.stop_price, ExitKind.TARGET: self.target_price}
        return {kind: self.client_id(kind) for kind, level in wanted.items() if level is not None}

    def requests(self) -> list[ExitOrderRequest]:
        levels = {ExitKind.STOP: self.stop_price, ExitKind.TARGET: self.target_price}
        return [
            ExitOrderRequest(self.client_id(kind), self.symbol, self.side, self.quantity, level, kind)
            for kind, level in levels.items()
            if level is not None
        ]

    def level(self, kind: ExitKind) -> Decimal | None:
        return self.stop_price if kind is ExitKind.STOP else self.target_price

    def fits(self, position: Position) -> bool:
        """Whether the orders of this record are the ones `position` wants now."""
        return (
            position.side is not None
            and position.opened_at == self.opened_at
            and position.quantity == self.quantity
            and position.side.closing_order_side is self.side
            and position.stop_loss == self.stop_price
            and position.take_profit == self.target_price
        )

    def with_placement(self, placement: Placement, reason: str | None = None) -> ExchangeExit:
        return replace(self, placement=placement, reason=reason)


def wanted(bot_id: int, position: Position, before: ExchangeExit | None) -> ExchangeExit | None:
    """The record of the exit orders `position` wants (None: flat, or no stop and no target),
    under the next revision of `before` when it was of the same position."""
    if position.side is None or position.quantity <= 0 or (position.stop_loss is None and position.take_profit is None):
        return None
    same = before is not None and before.opened_at == position.opened_at
    base = before.base_client_id if before is not None and same else opening_client_id(position)
    return ExchangeExit(
        bot_id=bot_id,
        account=position.account,
        symbol=position.symbol,
        opened_at=position.opened_at,
        base_client_id=base,
        revision=before.revision + 1 if before is not None and same else 1,
        quantity=position.quantity,
        side=position.side.closing_order_side,
        stop_price=position.stop_loss,
        target_price=position.take_profit,
    )


def opening_client_id(position: Position) -> str:
    """The client order id of the oldest entry still held (a fill id is `<client id>:<filled>`)."""
    if not position.entries:
        return f"sd-x{int(position.opened_at.timestamp()) if position.opened_at else 0}"
    return position.entries[0].fill_id.rsplit(":", 1)[0]
