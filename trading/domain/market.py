"""What a broker tells us and what we ask of it: instruments, quotes, accounts, orders.

These are broker-neutral; `brokers/` maps each broker's wire format onto them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from trading.domain import quantities
from trading.domain.values import OrderSide, OrderType


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    min_quantity: Decimal = Decimal(1)
    max_quantity: Decimal = Decimal(12)
    # 1 on whole-contract brokers (Herenya, paper); the market's amount step on an exchange.
    quantity_step: Decimal = Decimal(1)
    tick_size: Decimal = Decimal("0.5")
    contract_multiplier: Decimal = Decimal(1)
    currency: str = "ZAR"
    description: str = ""
    trading_open: bool = True

    def is_valid_quantity(self, quantity: Decimal) -> bool:
        return self.min_quantity <= quantity <= self.max_quantity and self.round_down(quantity) == quantity

    def round_down(self, quantity: Decimal) -> Decimal:
        """The largest valid step multiple not above `quantity` (may be below the minimum)."""
        return quantities.round_down(quantity, self.quantity_step)

    @property
    def whole_contracts(self) -> bool:
        return self.quantity_step == 1


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    time: datetime

    def price_for(self, side: OrderSide) -> Decimal:
        """What a market order on `side` would pay: buys lift the ask, sells hit the bid."""
        return self.ask if side is OrderSide.BUY else self.bid


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    currency: str
    balance: Decimal
    equity: Decimal
    margin_used: Decimal
    margin_available: Decimal


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    quantity: Decimal  # signed: positive long, negative short
    average_price: Decimal
    unrealized_pnl: Decimal


class BrokerOrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in (BrokerOrderStatus.FILLED, BrokerOrderStatus.CANCELED, BrokerOrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: str | None = None  # None: the broker's default (IOC market, GTC limit)
    reduce_only: bool = False
    # The alert's price. Never sent to a real broker; a paper broker with no quote source
    # fills market orders at it.
    reference_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    status: BrokerOrderStatus
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    time_in_force: str = "IOC"
    reduce_only: bool = False
    reject_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
