"""A position on one bot and symbol: entries (pyramid levels) changed only by fills.

Average-cost accounting: the average entry is quantity-weighted over the entries added,
and stays put when the position is reduced; realized P&L on every reduce or close is
(exit - average entry) x quantity x multiplier, signed by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from trading.domain import quantities
from trading.domain.values import ZERO, OrderSide, PositionSide


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str  # unique per broker fill; applying the same id twice is refused
    side: OrderSide
    quantity: Decimal
    price: Decimal
    time: datetime


def fill_id(client_order_id: str, filled: Decimal) -> str:
    """A broker fill's id: the order's client id and how much of it had filled by then, in one
    spelling (0.01, never 0.010), so a fill read again is the same fill."""
    return f"{client_order_id}:{quantities.plain(filled)}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One pyramid level: contracts still held from one opening or adding fill."""

    fill_id: str
    quantity: Decimal
    price: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """Contracts taken off the position by one fill, with what they realized."""

    side: PositionSide
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    realized_pnl: Decimal
    opened_at: datetime | None
    closed_at: datetime
    position_closed: bool  # the position went flat (or reversed) on this fill


@dataclass(frozen=True, slots=True)
class FillOutcome:
    fill: Fill
    closed: ClosedTrade | None  # set when the fill reduced or closed the position
    opened_quantity: Decimal  # contracts added (in the fill's direction) by this fill

    @property
    def realized_pnl(self) -> Decimal:
        return self.closed.realized_pnl if self.closed else ZERO


class DuplicateFill(ValueError):
    def __init__(self, fill_id: str) -> None:
        super().__init__(f"fill {fill_id!r} was already applied to this position")
        self.fill_id = fill_id


class InvalidFill(ValueError):
    pass


@dataclass(slots=True)
class Position:
    symbol: str
    multiplier: Decimal = Decimal(1)
    side: PositionSide | None = None
    entries: list[Entry] = field(default_factory=list)
    average_price: Decimal | None = None
    realized_pnl: Decimal = ZERO  # accumulated over every fill applied to this object
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    opened_at: datetime | None = None
    trailing_pct: Decimal | None = None  # the trail its entry's alert asked for (percent), if any
    applied_fill_ids: set[str] = field(default_factory=set)
    # The broker account it is held on (a bot on several accounts has one position on
    # each); "" in a position built by hand that is never stored.
    account: str = ""

    @classmethod
    def flat(cls, symbol: str, multiplier: Decimal = Decimal(1), account: str = "") -> Position:
        return cls(symbol=symbol, multiplier=multiplier, account=account)

    @classmethod
    def from_entries(
        cls,
        symbol: str,
        side: PositionSide,
        entries: list[Entry],
        multiplier: Decimal = Decimal(1),
        average_price: Decimal | None = None,
        **kwargs: object,
    ) -> Position:
        """Rebuild a position from stored entries; the stored average wins when given
        (it differs from the entries' weighted mean once the position was reduced)."""
        if not entries:
            return cls(symbol=symbol, multiplier=multiplier, account=str(kwargs.get("account", "")))
        if any(e.quantity <= 0 for e in entries):
            raise InvalidFill("every entry must hold at least one contract")
        if any(e.price <= 0 for e in entries):
            raise InvalidFill("every entry must have a positive price")
        mean = _weighted_mean(entries)
        # The stored average keeps 12 places; when it is the entries' mean (nothing was
        # reduced since they were added), the mean's full precision keeps realized P&L exact.
        avg = mean if average_price is None or abs(average_price - mean) <= _STORED_HALF_UNIT else average_price
        pos = cls(
            symbol=symbol,
            multiplier=multiplier,
            side=side,
            entries=list(entries),
            average_price=avg,
            opened_at=min(e.time for e in entries),
        )
        for key, value in kwargs.items():
            setattr(pos, key, value)
        pos.applied_fill_ids.update(e.fill_id for e in entries)
        return pos

    @property
    def quantity(self) -> Decimal:
        return sum((e.quantity for e in self.entries), ZERO)

    @property
    def signed_quantity(self) -> Decimal:
        return self.side.sign * self.quantity if self.side else ZERO

    @property
    def is_flat(self) -> bool:
        return not self.entries

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        if self.side is None or self.average_price is None:
            return ZERO
        return (price - self.average_price) * self.quantity * self.multiplier * self.side.sign

    def apply_fill(self, fill: Fill) -> FillOutcome:
        """Apply one fill: add in its direction, or reduce / close / flip against it."""
        if fill.fill_id in self.applied_fill_ids:
            raise DuplicateFill(fill.fill_id)
        if fill.quantity <= 0:
            raise InvalidFill(f"fill {fill.fill_id!r} has quantity {fill.quantity}; it must be positive")
        if fill.price <= 0:
            raise InvalidFill(f"fill {fill.fill_id!r} has price {fill.price}; it must be positive")
        self.applied_fill_ids.add(fill.fill_id)

        if self.side is None or self.side is fill.side.opens:
            self._add(fill, fill.quantity)
            return FillOutcome(fill, None, fill.quantity)

        closing = min(fill.quantity, self.quantity)
        closed = self._reduce(fill, closing)
        remainder = fill.quantity - closing
        if remainder:
            self._add(fill, remainder)
        return FillOutcome(fill, closed, remainder)

    def _add(self, fill: Fill, quantity: Decimal) -> None:
        old_qty = self.quantity
        if self.side is None:
            self.side = fill.side.opens
            self.opened_at = fill.time
            self.average_price = fill.price
        else:
            assert self.average_price is not None
            self.average_price = (self.average_price * old_qty + fill.price * quantity) / (old_qty + quantity)
        self.entries.append(Entry(fill.fill_id, quantity, fill.price, fill.time))

    def _reduce(self, fill: Fill, quantity: Decimal) -> ClosedTrade:
        assert self.side is not None and self.average_price is not None
        side, avg, opened_at = self.side, self.average_price, self.opened_at
        pnl = (fill.price - avg) * quantity * self.multiplier * side.sign
        self.realized_pnl += pnl
        # Trim the newest levels first, so a partial exit undoes the last pyramid add.
        left = quantity
        while left:
            last = self.entries[-1]
            if last.quantity <= left:
                self.entries.pop()
                left -= last.quantity
            else:
                self.entries[-1] = Entry(last.fill_id, last.quantity - left, last.price, last.time)
                left = ZERO
        went_flat = not self.entries
        if went_flat:
            self.side = None
            self.average_price = None
            self.opened_at = None
            self.stop_loss = None
            self.take_profit = None
            self.trailing_pct = None
        return ClosedTrade(side, quantity, avg, fill.price, pnl, opened_at, fill.time, went_flat)


_STORED_HALF_UNIT = Decimal("5E-13")  # half the last place an average is stored to


def _weighted_mean(entries: list[Entry]) -> Decimal:
    total = sum(e.quantity for e in entries)
    return sum((e.price * e.quantity for e in entries), ZERO) / total
