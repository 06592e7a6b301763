"""The Herenya simulator's exchange: accounts, quotes, orders, fills, netting positions.

No HTTP here (sim_app.py serves it): every method is synchronous, so a request's
validate-then-commit cannot be interleaved with another's, and tests can inspect and drive
the state directly. Time is read from `clock` and quotes move lazily, by as many
random-walk steps as the clock says have passed, whenever something looks at them.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from brokers.herenya.sim_config import SimAccount, SimConfig, SimInstrument

CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
FINAL = frozenset({"FILLED", "CANCELED", "REJECTED"})
CENTS = Decimal("0.01")
MAX_WALK_STEPS = 10_000  # a clock jump must not turn one request into a long loop


class SimError(Exception):
    """An error answer: HTTP status, contract code, human text (and the order for a 409 duplicate)."""

    def __init__(self, status: int, code: str, message: str, order: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.order = order

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.order is not None:
            error["order"] = self.order
        return {"error": error}


def money(d: Decimal) -> str:
    return format(d.quantize(CENTS, rounding=ROUND_HALF_EVEN), "f")


def price_text(d: Decimal) -> str:
    return format(d, "f")


@dataclass
class SimOrder:
    order_id: str
    account_id: str
    client_order_id: str
    symbol: str
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT
    quantity: int
    limit_price: Decimal | None
    time_in_force: str
    reduce_only: bool
    created_at: int
    updated_at: int
    status: str = "NEW"
    filled_quantity: int = 0
    fill_cost: Decimal = Decimal(0)  # sum of price x quantity over the fills
    reject_reason: str | None = None
    hidden_until: int = 0  # ms; client-id look-ups do not see it before then (fault injection)
    fill_at: int = 0  # ms; a delayed MARKET order fills then (half at the midpoint)

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity

    def to_wire(self) -> dict[str, Any]:
        avg = None
        if self.filled_quantity:
            avg = price_text((self.fill_cost / self.filled_quantity).normalize())
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "quantity": self.quantity,
            "limit_price": None if self.limit_price is None else price_text(self.limit_price),
            "time_in_force": self.time_in_force,
            "reduce_only": self.reduce_only,
            "status": self.status,
            "filled_quantity": self.filled_quantity,
            "average_fill_price": avg,
            "reject_reason": self.reject_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class SimPosition:
    quantity: int = 0  # signed
    average_price: Decimal = Decimal(0)


@dataclass
class _Quote:
    bid: Decimal
    ask: Decimal
    time: int
    stepped_at: float  # clock seconds of the last random-walk step
    frozen: bool = False  # set by the control API so a test's price holds still


class SimState:
    def __init__(self, config: SimConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config.validate()
        self.faults = config.faults
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Back to the configuration: balances, no orders, no positions, starting quotes."""
        seed = self.config.seed
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(None if seed is None else seed + 1)
        self.accounts: dict[str, SimAccount] = {a.account_id: a for a in self.config.accounts}
        self.by_key: dict[str, SimAccount] = {a.api_key: a for a in self.config.accounts}
        self.instruments: dict[str, SimInstrument] = {i.symbol: i for i in self.config.instruments}
        self.trading_status: dict[str, str] = {i.symbol: i.trading_status for i in self.config.instruments}
        self.balances: dict[str, Decimal] = {a.account_id: a.balance for a in self.config.accounts}
        self.positions: dict[tuple[str, str], SimPosition] = {}
        self.orders: dict[str, SimOrder] = {}
        self.by_client_id: dict[tuple[str, str], SimOrder] = {}
        self.open_orders: dict[str, SimOrder] = {}
        self.injected: Counter[str] = Counter()  # faults injected so far, by kind
        self._seq = 0
        now = self.clock()
        self.quotes: dict[str, _Quote] = {}
        for i in self.config.instruments:
            half = i.tick_size * i.spread_ticks / 2
            bid = self._to_tick(i.price - half, i)
            self.quotes[i.symbol] = _Quote(bid, bid + i.tick_size * i.spread_ticks, self.now_ms(), now)

    # ------------------------------------------------------------------- time and quotes

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def _to_tick(price: Decimal, i: SimInstrument) -> Decimal:
        return (price / i.tick_size).to_integral_value(ROUND_HALF_EVEN) * i.tick_size

    def instrument(self, symbol: str) -> SimInstrument:
        i = self.instruments.get(symbol)
        if i is None:
            raise SimError(404, "UNKNOWN_SYMBOL", f"no instrument {symbol!r}")
        return i

    def _walk(self, symbol: str) -> _Quote:
        q = self.quotes[symbol]
        step = self.config.quote_step_seconds
        if q.frozen or step <= 0:
            return q
        now = self.clock()
        steps = int((now - q.stepped_at) / step)
        if steps <= 0:
            return q
        i = self.instruments[symbol]
        moved = sum(self.rng.choice((-1, 0, 1)) for _ in range(min(steps, MAX_WALK_STEPS)))
        delta = i.tick_size * moved
        if q.bid + delta > i.tick_size:  # the walk never takes a price to zero or below
            q.bid += delta
            q.ask += delta
        q.stepped_at += steps * step
        q.time = self.now_ms()
        return q

    def advance(self) -> None:
        """Move quotes to now and fill whatever the new prices (or the clock) fill."""
        for symbol in self.quotes:
            self._walk(symbol)
        if self.open_orders:
            for order in list(self.open_orders.values()):
                self._work(order)

    def quote(self, symbol: str) -> dict[str, Any]:
        self.instrument(symbol)
        self.advance()
        q = self.quotes[symbol]
        return {
            "symbol": symbol,
            "bid": price_text(q.bid),
            "ask": price_text(q.ask),
            "last": price_text((q.bid + q.ask) / 2),
            "time": q.time,
        }

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, *, frozen: bool = True) -> dict[str, Any]:
        self.instrument(symbol)
        if not 0 < bid <= ask:
            raise SimError(400, "INVALID_REQUEST", f"need 0 < bid <= ask, got bid {bid} ask {ask}")
        q = self.quotes[symbol]
        q.bid, q.ask, q.time, q.frozen, q.stepped_at = bid, ask, self.now_ms(), frozen, self.clock()
        self.advance()
        return self.quote(symbol)

    def set_trading_status(self, symbol: str, status: str) -> None:
        self.instrument(symbol)
        if status not in ("OPEN", "CLOSED"):
            raise SimError(400, "INVALID_REQUEST", f"trading_status must be OPEN or CLOSED, got {status!r}")
        self.trading_status[symbol] = status

    def set_balance(self, account_id: str, balance: Decimal) -> None:
        self.account(account_id)
        self.balances[account_id] = balance

    def instrument_view(self, symbol: str) -> dict[str, Any]:
        i = self.instrument(symbol)
        return {
            "symbol": i.symbol,
            "description": i.description,
            "currency": i.currency,
            "min_quantity": i.min_quantity,
            "max_quantity": i.max_quantity,
            "quantity_step": i.quantity_step,
            "tick_size": price_text(i.tick_size),
            "contract_multiplier": price_text(i.contract_multiplier),
            "trading_status": self.trading_status[symbol],
        }

    # ------------------------------------------------------------------- accounts

    def account(self, account_id: str) -> SimAccount:
        a = self.accounts.get(account_id)
        if a is None:
            raise SimError(404, "UNKNOWN_ACCOUNT", f"no account {account_id!r}")
        return a

    def _mark(self, symbol: str, quantity: int) -> Decimal:
        """What a position would close at: longs sell at the bid, shorts buy at the ask."""
        q = self.quotes[symbol]
        return q.bid if quantity > 0 else q.ask

    def _unrealized(self, symbol: str, p: SimPosition) -> Decimal:
        i = self.instruments[symbol]
        return (self._mark(symbol, p.quantity) - p.average_price) * p.quantity * i.contract_multiplier

    def _margin(self, symbol: str, quantity: int) -> Decimal:
        i = self.instruments[symbol]
        return abs(quantity) * self._mark(symbol, quantity or 1) * i.contract_multiplier * i.margin_rate

    def _figures(self, account_id: str) -> tuple[Decimal, Decimal, Decimal]:
        """balance, equity, margin used."""
        balance = self.balances[account_id]
        equity, used = balance, Decimal(0)
        for (acct, symbol), p in self.positions.items():
            if acct == account_id and p.quantity:
                equity += self._unrealized(symbol, p)
                used += self._margin(symbol, p.quantity)
        return balance, equity, used

    def account_view(self, account_id: str) -> dict[str, Any]:
        a = self.account(account_id)
        self.advance()
        balance, equity, used = self._figures(account_id)
        return {
            "account_id": a.account_id,
            "currency": a.currency,
            "balance": money(balance),
            "equity": money(equity),
            "margin_used": money(used),
            "margin_available": money(equity - used),
        }

    def positions_view(self, account_id: str) -> dict[str, Any]:
        self.account(account_id)
        self.advance()
        out = []
        for (acct, symbol), p in sorted(self.positions.items()):
            if acct == account_id and p.quantity:
                out.append(
                    {
                        "symbol": symbol,
                        "quantity": p.quantity,
                        "average_price": price_text(p.average_price.normalize()),
                        "unrealized_pnl": money(self._unrealized(symbol, p)),
                    }
                )
        return {"positions": out}

    # ------------------------------------------------------------------- orders

    def _parse_order(self, payload: Any) -> dict[str, Any]:
        def bad(message: str) -> SimError:
            return SimError(400, "INVALID_REQUEST", message)

        if not isinstance(payload, dict):
            raise bad("the body must be a JSON object")
        side = payload.get("side")
        if side not in ("BUY", "SELL"):
            raise bad(f"side must be BUY or SELL, got {side!r}")
        type_ = payload.get("type")
        if type_ not in ("MARKET", "LIMIT"):
            raise bad(f"type must be MARKET or LIMIT, got {type_!r}")
        quantity = payload.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise bad(f"quantity must be an integer number of contracts, got {quantity!r}")
        raw_price = payload.get("limit_price")
        limit_price: Decimal | None = None
        if type_ == "LIMIT":
            if not isinstance(raw_price, str):
                raise bad(f"limit_price is required for LIMIT orders as a decimal string, got {raw_price!r}")
            try:
                limit_price = Decimal(raw_price)
            except ArithmeticError:
                raise bad(f"limit_price is not a decimal: {raw_price!r}") from None
            if not limit_price.is_finite() or limit_price <= 0:
                raise bad(f"limit_price must be positive, got {raw_price!r}")
        elif raw_price is not None:
            raise bad("limit_price must be absent or null for MARKET orders")
        tif = payload.get("time_in_force")
        if tif is None:
            tif = "IOC" if type_ == "MARKET" else "GTC"
        elif tif not in ("GTC", "IOC", "DAY"):
            raise bad(f"time_in_force must be GTC, IOC or DAY, got {tif!r}")
        reduce_only = payload.get("reduce_only", False)
        if reduce_only is None:
            reduce_only = False
        if not isinstance(reduce_only, bool):
            raise bad(f"reduce_only must be true or false, got {reduce_only!r}")
        symbol = payload.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise bad(f"symbol must be a non-empty string, got {symbol!r}")
        return {
            "symbol": symbol,
            "side": side,
            "type": type_,
            "quantity": quantity,
            "limit_price": limit_price,
            "time_in_force": tif,
            "reduce_only": reduce_only,
        }

    def place_order(self, account_id: str, payload: Any, *, hidden_seconds: float = 0.0) -> SimOrder:
        self.account(account_id)
        if not isinstance(payload, dict):
            raise SimError(400, "INVALID_REQUEST", "the body must be a JSON object")
        cid = payload.get("client_order_id")
        if not isinstance(cid, str) or not CLIENT_ORDER_ID.fullmatch(cid):
            raise SimError(400, "INVALID_REQUEST", f"client_order_id must be 1 to 64 of A-Z a-z 0-9 _ -, got {cid!r}")
        # The duplicate check comes first: a resend must get the original even if the
        # market has since closed or the margin gone.
        existing = self.by_client_id.get((account_id, cid))
        if existing is not None:
            self.advance()
            raise SimError(
                409,
                "DUPLICATE_CLIENT_ORDER_ID",
                f"client_order_id {cid} was used by order {existing.order_id}",
                order=existing.to_wire(),
            )
        o = self._parse_order(payload)
        i = self.instrument(o["symbol"])
        if o["limit_price"] is not None and o["limit_price"] % i.tick_size != 0:
            raise SimError(
                400,
                "INVALID_REQUEST",
                f"limit_price {o['limit_price']} is not a multiple of the tick size {i.tick_size}",
            )
        qty = o["quantity"]
        if not (i.min_quantity <= qty <= i.max_quantity) or qty % i.quantity_step:
            raise SimError(
                422,
                "QUANTITY_OUT_OF_RANGE",
                f"quantity {qty} is outside {i.min_quantity}..{i.max_quantity} or not a multiple of {i.quantity_step}",
            )
        if self.trading_status[i.symbol] != "OPEN":
            raise SimError(422, "MARKET_CLOSED", f"{i.symbol} is not trading now")
        self.advance()
        signed = qty if o["side"] == "BUY" else -qty
        if o["reduce_only"] and not self._reduces(account_id, i.symbol, signed):
            held = self.positions.get((account_id, i.symbol), SimPosition()).quantity
            raise SimError(
                422, "REDUCE_ONLY_REJECTED", f"reduce-only {o['side']} {qty} would not reduce the position of {held}"
            )
        q = self.quotes[i.symbol]
        price = o["limit_price"] if o["type"] == "LIMIT" else (q.ask if signed > 0 else q.bid)
        shortfall = self._margin_shortfall(account_id, i.symbol, signed, price)
        if shortfall is not None:
            raise SimError(422, "INSUFFICIENT_MARGIN", shortfall)
        now = self.now_ms()
        self._seq += 1
        order = SimOrder(
            order_id=f"H-{self._seq:06d}",
            account_id=account_id,
            client_order_id=cid,
            symbol=i.symbol,
            side=o["side"],
            type=o["type"],
            quantity=qty,
            limit_price=o["limit_price"],
            time_in_force=o["time_in_force"],
            reduce_only=o["reduce_only"],
            created_at=now,
            updated_at=now,
            hidden_until=now + int(hidden_seconds * 1000),
        )
        self.orders[order.order_id] = order
        self.by_client_id[(account_id, cid)] = order
        if order.type == "MARKET" and self.config.market_fill_delay > 0:
            order.fill_at = now + int(self.config.market_fill_delay * 1000)
            self.open_orders[order.order_id] = order
            return order
        self._work(order, first=True)
        if order.status not in FINAL:
            self.open_orders[order.order_id] = order
        return order

    def _reduces(self, account_id: str, symbol: str, signed: int) -> bool:
        held = self.positions.get((account_id, symbol), SimPosition()).quantity
        return held != 0 and (held > 0) != (signed > 0) and abs(signed) <= abs(held)

    def _margin_shortfall(self, account_id: str, symbol: str, signed: int, price: Decimal) -> str | None:
        """Why the account cannot carry the position after this fill, or None when it can.
        Only fills that grow the position need margin."""
        held = self.positions.get((account_id, symbol), SimPosition()).quantity
        after = held + signed
        if abs(after) <= abs(held):
            return None
        i = self.instruments[symbol]
        _, equity, used = self._figures(account_id)
        needed = used - self._margin(symbol, held) + abs(after) * price * i.contract_multiplier * i.margin_rate
        if needed > equity:
            return f"margin needed {money(needed)} exceeds equity {money(equity)}"
        return None

    def _work(self, order: SimOrder, *, first: bool = False) -> None:
        """Fill what can be filled now; cancel an IOC remainder; leave the rest resting."""
        if order.status in FINAL:
            self.open_orders.pop(order.order_id, None)
            return
        q = self.quotes[order.symbol]
        now = self.now_ms()
        if order.type == "MARKET":
            if order.fill_at:
                if now >= order.fill_at:
                    self._fill(order, order.remaining, q.ask if order.sign > 0 else q.bid)
                elif now >= order.fill_at - int(self.config.market_fill_delay * 500) and order.filled_quantity == 0:
                    half = order.quantity // 2
                    if half:
                        self._fill(order, half, q.ask if order.sign > 0 else q.bid)
            else:
                self._fill(order, order.remaining, q.ask if order.sign > 0 else q.bid)
        else:
            assert order.limit_price is not None
            touch = q.ask if order.sign > 0 else q.bid
            crossed = touch <= order.limit_price if order.sign > 0 else touch >= order.limit_price
            if crossed:
                # Marketable on arrival: the better quoted price. Resting and then crossed: the limit.
                self._fill(order, order.remaining, touch if first else order.limit_price)
            elif order.time_in_force == "IOC":
                order.status = "CANCELED"
                order.reject_reason = "IOC limit not immediately fillable"
                order.updated_at = now
        if order.status in FINAL:
            self.open_orders.pop(order.order_id, None)

    def _fill(self, order: SimOrder, qty: int, price: Decimal) -> None:
        signed = qty * order.sign
        now = self.now_ms()
        if order.reduce_only and not self._reduces(order.account_id, order.symbol, signed):
            order.status = "CANCELED"
            order.reject_reason = "REDUCE_ONLY_REJECTED: the position changed while the order rested"
            order.updated_at = now
            return
        shortfall = self._margin_shortfall(order.account_id, order.symbol, signed, price)
        if shortfall is not None:
            order.status = "REJECTED" if order.filled_quantity == 0 else "CANCELED"
            order.reject_reason = "INSUFFICIENT_MARGIN: " + shortfall
            order.updated_at = now
            return
        self._apply(order.account_id, order.symbol, signed, price)
        order.filled_quantity += qty
        order.fill_cost += price * qty
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        order.updated_at = now

    def _apply(self, account_id: str, symbol: str, signed: int, price: Decimal) -> None:
        """Netting: same direction averages in; opposite direction realizes P&L on what it
        closes and opens the rest at the fill price."""
        i = self.instruments[symbol]
        p = self.positions.setdefault((account_id, symbol), SimPosition())
        if p.quantity == 0 or (p.quantity > 0) == (signed > 0):
            total = abs(p.quantity) + abs(signed)
            p.average_price = (p.average_price * abs(p.quantity) + price * abs(signed)) / total
            p.quantity += signed
            return
        closing = min(abs(signed), abs(p.quantity))
        direction = 1 if p.quantity > 0 else -1
        self.balances[account_id] += (price - p.average_price) * closing * direction * i.contract_multiplier
        p.quantity += signed
        if p.quantity == 0:
            p.average_price = Decimal(0)
        elif (p.quantity > 0) != (direction > 0):
            p.average_price = price  # reversed: the remainder opened at this fill

    def _owned(self, account_id: str, order_id: str) -> SimOrder:
        self.account(account_id)
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise SimError(404, "UNKNOWN_ORDER", f"no order {order_id!r} on account {account_id}")
        return order

    def get_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        order = self._owned(account_id, order_id)
        self.advance()
        return order.to_wire()

    def find_orders(self, account_id: str, client_order_id: str) -> dict[str, Any]:
        self.account(account_id)
        self.advance()
        order = self.by_client_id.get((account_id, client_order_id))
        if order is None or self.now_ms() < order.hidden_until:
            return {"orders": []}
        return {"orders": [order.to_wire()]}

    def cancel_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        order = self._owned(account_id, order_id)
        self.advance()
        if order.status in FINAL:
            raise SimError(409, "ORDER_NOT_CANCELABLE", f"order {order_id} is already {order.status}")
        order.status = "CANCELED"
        order.updated_at = self.now_ms()
        self.open_orders.pop(order_id, None)
        return order.to_wire()

    def book(self) -> dict[str, Any]:
        """Every order on every account, for tests and the curious (control API)."""
        return {"orders": [dict(o.to_wire(), account_id=o.account_id) for o in self.orders.values()]}

    def all_positions(self) -> dict[str, Any]:
        self.advance()
        return {
            "positions": [
                {
                    "account_id": acct,
                    "symbol": symbol,
                    "quantity": p.quantity,
                    "average_price": price_text(p.average_price.normalize()),
                }
                for (acct, symbol), p in sorted(self.positions.items())
                if p.quantity
            ],
            "balances": {acct: money(b) for acct, b in self.balances.items()},
        }
