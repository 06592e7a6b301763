"""A loopback Binance USDⓈ-M futures exchange: the part of its REST API that ccxt's
`binanceusdm` uses, for the tests of the ccxt broker (no test reaches the internet).

What it speaks, as Binance does (codes and messages from Binance's documentation, which
ccxt's error table maps): exchange info with real filters (PRICE_FILTER, LOT_SIZE,
MARKET_LOT_SIZE, MIN_NOTIONAL), the 24 h ticker and book ticker, one-minute klines (from
the candles a test gives, `FakeBinance.candles`), balance and account,
positions, orders (MARKET, LIMIT, and STOP_MARKET / TAKE_PROFIT_MARKET on the algo-order
endpoint ccxt >= 4.5 uses), reduce-only, client order ids (a repeat is -4116 "ClientOrderId
is duplicated."), cancel; every private request's HMAC-SHA256 signature and API key are
checked. Market orders answer as Binance's default ACK does (status NEW) and are FILLED
when read back.

Faults, injected per request (`FakeBinance.faults`, taken in order by the requests whose
method and path match) or at random (`fault_rate`): "5xx" (a 503 and nothing done),
"timeout" (nothing done, no answer before the client gives up), "lost" (the request is
carried out, then the answer is lost: the client times out).

Served with Hypercorn in the test's event loop, as the Herenya simulator is.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quart import Quart, Response, request

from brokers.herenya.sim_server import bind_socket, serve_simulator
from trading.domain.candles import Candle

D = Decimal
API_KEY = "fake-binance-key"
API_SECRET = "fake-binance-secret"
LEVERAGE = D(10)
ZERO = D(0)
_TICK, _STEP, _MAX_QTY, _MARKET_MAX_QTY, _MIN_NOTIONAL, _WALLET = (
    D("0.10"),
    D("0.001"),
    D(1000),
    D(120),
    D(100),
    D(100_000),
)


@dataclass
class Contract:
    symbol: str
    base: str
    price: Decimal
    tick: Decimal = _TICK
    step: Decimal = _STEP
    min_qty: Decimal = _STEP
    max_qty: Decimal = _MAX_QTY
    market_max_qty: Decimal = _MARKET_MAX_QTY
    min_notional: Decimal = _MIN_NOTIONAL
    status: str = "TRADING"


@dataclass
class Position:
    quantity: Decimal = ZERO  # signed
    entry: Decimal = ZERO


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal
    reduce_only: bool
    time_in_force: str
    created: int
    status: str = "NEW"
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    trigger: Decimal | None = None
    algo: bool = False
    actual_order_id: int | None = None  # a triggered algo order: the market order it became


class BinanceError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeBinance:
    """The exchange's state; tests read and change it directly."""

    api_key: str = API_KEY
    api_secret: str = API_SECRET
    wallet: Decimal = _WALLET
    contracts: dict[str, Contract] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    faults: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, "5xx" | "timeout" | "lost")
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("5xx", "timeout", "lost")
    hang_seconds: float = 3.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    requests: list[tuple[str, str]] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)  # the faults given, in order
    base_url: str = ""  # where it is served, once it is
    clock_offset_ms: int = 0  # the exchange's clock ahead of ours
    answers_result: bool = True  # False: every market order is answered ACK (NEW), whatever was asked
    candles: dict[str, list[Candle]] = field(default_factory=dict)  # by exchange symbol (BTCUSDT): the klines served
    refuse_algo_orders: bool = False  # True: every stop / take-profit order is refused (-2021)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(8_389_765_000_000))

    def __post_init__(self) -> None:
        if not self.contracts:
            self.contracts = {
                "BTCUSDT": Contract("BTCUSDT", "BTC", D("65000.0")),
                "ETHUSDT": Contract("ETHUSDT", "ETH", D("3200.00"), tick=D("0.01"), min_notional=D("20")),
            }

    # --------------------------------------------------------------- what tests call

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market: resting limits and triggered algo orders fill."""
        self.contracts[symbol].price = price
        for order in list(self.orders.values()):
            if order.symbol == symbol and order.status == "NEW":
                self._work(order)

    def placed(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if symbol is None or o.symbol == symbol]

    # --------------------------------------------------------------- the book

    def place(self, p: dict[str, str], *, algo: bool) -> Order:
        symbol = p.get("symbol", "")
        contract = self.contract(symbol)
        client_id = p.get("clientAlgoId" if algo else "newClientOrderId") or f"fake-{next(self._ids)}"
        if not _valid_client_id(client_id):
            raise BinanceError(400, -4015, "Client order id is not valid.")
        if any(o.client_id == client_id for o in self.orders.values()):
            raise BinanceError(400, -4116, "ClientOrderId is duplicated.")
        if algo and self.refuse_algo_orders:
            raise BinanceError(400, -2021, "Order would immediately trigger.")
        side, kind = p.get("side", ""), p.get("type", "")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if kind not in (("STOP_MARKET", "TAKE_PROFIT_MARKET") if algo else ("MARKET", "LIMIT")):
            raise BinanceError(400, -1116, "Invalid orderType.")
        quantity = _decimal(p, "quantity")
        if quantity <= 0:
            raise BinanceError(400, -4003, "Quantity less than or equal to zero.")
        if quantity % contract.step != 0:
            raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        top = contract.market_max_qty if kind != "LIMIT" else contract.max_qty
        if quantity < contract.min_qty or quantity > top:
            raise BinanceError(400, -4005 if quantity > top else -4003, f"Quantity out of range for {symbol}.")
        price = _decimal(p, "price") if kind == "LIMIT" else contract.price
        if kind == "LIMIT" and price % contract.tick != 0:
            raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        reduce_only = p.get("reduceOnly", "false").lower() == "true"
        if reduce_only and not self._reduces(symbol, side, quantity):
            raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
        if not reduce_only:
            if quantity * price < contract.min_notional:
                raise BinanceError(
                    400,
                    -4164,
                    f"Order's notional must be no smaller than {contract.min_notional} (unless you choose reduce only).",
                )
            if quantity * price / LEVERAGE > self.available():
                raise BinanceError(400, -2019, "Margin is insufficient.")
        order = Order(
            order_id=next(self._ids),
            client_id=client_id,
            symbol=symbol,
            side=side,
            type=kind,
            quantity=quantity,
            price=price if kind == "LIMIT" else D(0),
            reduce_only=reduce_only,
            time_in_force=p.get("timeInForce", "GTC"),
            created=_now_ms(),
            trigger=_decimal(p, "triggerPrice") if algo else None,
            algo=algo,
        )
        self.orders[order.order_id] = order
        return order

    def place_answer(self, p: dict[str, str]) -> dict[str, Any]:
        """Place an order and answer as Binance does: by default (ACK) a market order as
        NEW, filled by the time it is read back; with newOrderRespType=RESULT, and for a
        limit, as it stands after matching."""
        order = self.place(p, algo=False)
        ack = _order_json(order)
        self._work(order)
        result = self.answers_result and p.get("newOrderRespType", "ACK") == "RESULT"
        return ack if order.type == "MARKET" and not result else _order_json(order)

    def find(self, p: dict[str, str], *, algo: bool = False) -> Order:
        if not algo:
            self.contract(p.get("symbol", ""))  # an unknown symbol is -1121, as Binance answers
        by_id, by_client = (
            p.get("algoId" if algo else "orderId"),
            p.get("clientAlgoId" if algo else "origClientOrderId"),
        )
        for order in self.orders.values():
            if order.algo is algo and (str(order.order_id) == by_id or (by_client and order.client_id == by_client)):
                return order
        raise BinanceError(400, -2013, "Order does not exist.")

    def cancel(self, p: dict[str, str], *, algo: bool = False) -> Order:
        try:
            order = self.find(p, algo=algo)
        except BinanceError as e:
            raise BinanceError(400, -2011, "Unknown order sent.") from e
        if order.status != "NEW" and order.status != "PARTIALLY_FILLED":
            raise BinanceError(400, -2011, "Unknown order sent.")
        order.status = "CANCELED"
        return order

    def klines(self, p: dict[str, str]) -> list[list[Any]]:
        """GET /fapi/v1/klines as Binance answers it: the 1m candles opening in
        [startTime, endTime], oldest first, at most `limit` (default 500, at most 1500)."""
        self.contract(p.get("symbol", ""))
        if p.get("interval") != "1m":
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = int(p.get("limit", "500"))
        if not 1 <= limit <= 1500:
            raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        start, end = int(p.get("startTime", "0")), int(p.get("endTime", str(2**62)))
        rows = []
        for c in sorted(self.candles.get(p["symbol"], []), key=lambda c: c.time):
            opened = int(c.time.timestamp() * 1000)
            if start <= opened <= end:
                rows.append(
                    [opened, _s(c.open), _s(c.high), _s(c.low), _s(c.close), "12.5", opened + 59_999,
                     _s(c.close * D("12.5")), 100, "6.2", _s(c.close * D("6.2")), "0"]
                )  # fmt: skip
        return rows[:limit]

    def available(self) -> Decimal:
        used = sum(
            (abs(p.quantity) * self.contracts[s].price / LEVERAGE for s, p in self.positions.items()), start=D(0)
        )
        return self.wallet + self.unrealized() - used

    def unrealized(self) -> Decimal:
        return sum(
            ((self.contracts[s].price - p.entry) * p.quantity for s, p in self.positions.items() if p.quantity),
            start=D(0),
        )

    def contract(self, symbol: str) -> Contract:
        contract = self.contracts.get(symbol)
        if contract is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return contract

    def _reduces(self, symbol: str, side: str, quantity: Decimal) -> bool:
        held = self.positions.get(symbol, Position()).quantity
        return (held > 0 and side == "SELL" and quantity <= held) or (held < 0 and side == "BUY" and quantity <= -held)

    def _work(self, order: Order) -> None:
        price = self.contracts[order.symbol].price
        buy = order.side == "BUY"
        if order.algo:
            stop = order.type == "STOP_MARKET"
            hit = (price >= order.trigger if buy == stop else price <= order.trigger) if order.trigger else False
            if hit:
                # As Binance: the triggered algo order is FINISHED and a market order carries
                # it out (`actualOrderId`), unless a reduce-only one has nothing to reduce.
                order.status = "FINISHED"
                if not order.reduce_only or self._reduces(order.symbol, order.side, order.quantity):
                    actual = Order(
                        order_id=next(self._ids),
                        client_id=f"fake-{order.order_id}",
                        symbol=order.symbol,
                        side=order.side,
                        type="MARKET",
                        quantity=order.quantity,
                        price=D(0),
                        reduce_only=order.reduce_only,
                        time_in_force="GTC",
                        created=_now_ms(),
                    )
                    self.orders[actual.order_id] = actual
                    self._fill(actual, price)
                    order.actual_order_id = actual.order_id
                    order.filled, order.avg_price = actual.filled, price
            return
        if order.type == "MARKET" or (buy and price <= order.price) or (not buy and price >= order.price):
            self._fill(order, price if order.type == "MARKET" else order.price)

    def _fill(self, order: Order, price: Decimal) -> None:
        signed = order.quantity if order.side == "BUY" else -order.quantity
        pos = self.positions.setdefault(order.symbol, Position())
        if pos.quantity == 0 or (pos.quantity > 0) == (signed > 0):
            total = pos.quantity + signed
            pos.entry = (pos.entry * abs(pos.quantity) + price * abs(signed)) / abs(total)
            pos.quantity = total
        else:
            closed = min(abs(signed), abs(pos.quantity))
            self.wallet += (price - pos.entry) * closed * (1 if pos.quantity > 0 else -1)
            rest = pos.quantity + signed
            if rest == 0 or (rest > 0) == (pos.quantity > 0):
                pos.quantity = rest
                if rest == 0:
                    pos.entry = D(0)
            else:
                pos.quantity, pos.entry = rest, price
        if not order.algo:
            order.status = "FILLED"
        order.filled, order.avg_price = order.quantity, price


def _valid_client_id(value: str) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:/_-")
    return 1 <= len(value) <= 36 and set(value) <= allowed


def _decimal(p: dict[str, str], name: str) -> Decimal:
    try:
        return D(p[name])
    except (KeyError, ArithmeticError) as e:
        raise BinanceError(
            400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        ) from e


def _now_ms() -> int:
    return int(time.time() * 1000)


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _order_json(o: Order) -> dict[str, Any]:
    if o.algo:
        return {
            "algoId": o.order_id,
            "clientAlgoId": o.client_id,
            "algoType": "CONDITIONAL",
            "orderType": o.type,
            "symbol": o.symbol,
            "side": o.side,
            "positionSide": "BOTH",
            "timeInForce": "GTC",
            "quantity": _s(o.quantity),
            "algoStatus": o.status,
            "actualOrderId": str(o.actual_order_id) if o.actual_order_id is not None else "",
            "actualPrice": _s(o.avg_price),
            "triggerPrice": _s(o.trigger or D(0)),
            "price": "0",
            "workingType": "CONTRACT_PRICE",
            "reduceOnly": o.reduce_only,
            "createTime": o.created,
            "updateTime": o.created,
        }
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_id,
        "price": _s(o.price),
        "avgPrice": _s(o.avg_price),
        "origQty": _s(o.quantity),
        "executedQty": _s(o.filled),
        "cumQuote": _s(o.filled * o.avg_price),
        "timeInForce": o.time_in_force if o.type == "LIMIT" else "GTC",
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "time": o.created,
        "updateTime": o.created,
    }


def exchange_info(state: FakeBinance) -> dict[str, Any]:
    symbols = []
    for c in state.contracts.values():
        symbols.append(
            {
                "symbol": c.symbol,
                "pair": c.symbol,
                "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000,
                "status": c.status,
                "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000",
                "baseAsset": c.base,
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "pricePrecision": 2,
                "quantityPrecision": 3,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "underlyingSubType": [],
                "triggerProtect": "0.0500",
                "liquidationFee": "0.012500",
                "marketTakeBound": "0.05",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "809484", "tickSize": _s(c.tick)},
                    {
                        "filterType": "LOT_SIZE",
                        "stepSize": _s(c.step),
                        "maxQty": _s(c.max_qty),
                        "minQty": _s(c.min_qty),
                    },
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "stepSize": _s(c.step),
                        "maxQty": _s(c.market_max_qty),
                        "minQty": _s(c.min_qty),
                    },
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                    {"filterType": "MIN_NOTIONAL", "notional": _s(c.min_notional)},
                    {
                        "filterType": "PERCENT_PRICE",
                        "multiplierUp": "1.0500",
                        "multiplierDown": "0.9500",
                        "multiplierDecimal": "4",
                    },
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": _now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": symbols,
    }


def create_fake_binance_app(state: FakeBinance) -> Quart:
    app = Quart("fake_binance")

    def answer(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    async def params(signed: bool) -> dict[str, str]:
        query = request.query_string.decode()
        body = (await request.get_data(as_text=True)) or ""
        merged = {k: v for k, v in request.args.items()} | {k: v for k, v in (await request.form).items()}
        if signed:
            if request.headers.get("X-MBX-APIKEY") != state.api_key:
                raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            given = merged.get("signature", "")
            payload = (query + body).replace("&signature=" + given, "").replace("signature=" + given, "")
            expected = hmac.new(state.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(given, expected):
                raise BinanceError(400, -1022, "Signature for this request is not valid.")
            if "timestamp" not in merged:
                raise BinanceError(
                    400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
                )
            window = int(merged.get("recvWindow", "5000"))
            if abs(int(merged["timestamp"]) - (_now_ms() + state.clock_offset_ms)) > window:
                raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        merged.pop("signature", None)
        return merged

    def fault_for(method: str, path: str) -> str | None:
        for index, (m, p, kind) in enumerate(state.faults):
            if m == method and p == path:
                del state.faults[index]
                return kind
        if state.fault_rate and method == "POST" and state.rng.random() < state.fault_rate:
            return state.rng.choice(state.fault_kinds)
        return None

    def injected(kind: str | None) -> str | None:
        if kind is not None:
            state.injected.append(kind)
        return kind

    async def run(signed: bool, work: Any) -> Response:
        state.requests.append((request.method, request.path))
        kind = injected(fault_for(request.method, request.path))
        try:
            if kind == "5xx":
                return answer({"code": -1001, "msg": "Internal error; unable to process your request."}, 503)
            if kind == "timeout":
                await asyncio.sleep(state.hang_seconds)
                return answer({"code": -1007, "msg": "Timeout waiting for response from backend server."}, 503)
            result = work(await params(signed))
            if kind == "lost":
                await asyncio.sleep(state.hang_seconds)
            return answer(result)
        except BinanceError as e:
            return answer({"code": e.code, "msg": e.message}, e.status)

    def ticker(symbol: str) -> dict[str, Any]:
        c = state.contract(symbol)
        return {
            "symbol": symbol,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": _s(c.price),
            "lastPrice": _s(c.price),
            "lastQty": "0.010",
            "openPrice": _s(c.price),
            "highPrice": _s(c.price),
            "lowPrice": _s(c.price),
            "volume": "1000",
            "quoteVolume": _s(c.price * 1000),
            "openTime": _now_ms() - 86_400_000,
            "closeTime": _now_ms(),
            "count": 1000,
        }

    def book_ticker(symbol: str) -> dict[str, Any]:
        c = state.contract(symbol)
        return {
            "symbol": symbol,
            "bidPrice": _s(c.price - c.tick),
            "bidQty": "5.000",
            "askPrice": _s(c.price + c.tick),
            "askQty": "5.000",
            "time": _now_ms(),
        }

    def book_tickers(p: dict[str, str]) -> Any:
        # One symbol asked: one object; none: every symbol's, as Binance answers.
        if p.get("symbol"):
            return book_ticker(p["symbol"])
        return [book_ticker(s) for s in state.contracts]

    def balances(_: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "accountAlias": "fake",
                "asset": "USDT",
                "balance": _s(state.wallet),
                "crossWalletBalance": _s(state.wallet),
                "crossUnPnl": _s(state.unrealized()),
                "availableBalance": _s(state.available()),
                "maxWithdrawAmount": _s(state.available()),
                "marginAvailable": True,
                "updateTime": _now_ms(),
            }
        ]

    def account(_: dict[str, str]) -> dict[str, Any]:
        margin = state.wallet + state.unrealized()
        return {
            "totalInitialMargin": _s(margin - state.available()),
            "totalMaintMargin": "0",
            "totalWalletBalance": _s(state.wallet),
            "totalUnrealizedProfit": _s(state.unrealized()),
            "totalMarginBalance": _s(margin),
            "availableBalance": _s(state.available()),
            "maxWithdrawAmount": _s(state.available()),
            "assets": [
                {
                    "asset": "USDT",
                    "walletBalance": _s(state.wallet),
                    "unrealizedProfit": _s(state.unrealized()),
                    "marginBalance": _s(margin),
                    "initialMargin": _s(margin - state.available()),
                    "availableBalance": _s(state.available()),
                    "crossWalletBalance": _s(state.wallet),
                    "maxWithdrawAmount": _s(state.available()),
                    "marginAvailable": True,
                    "updateTime": _now_ms(),
                }
            ],
            "positions": position_risk({}),
        }

    def position_risk(p: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for symbol, pos in state.positions.items():
            if p.get("symbol") and p["symbol"] != symbol:
                continue
            price = state.contracts[symbol].price
            out.append(
                {
                    "symbol": symbol,
                    "positionSide": "BOTH",
                    "positionAmt": _s(pos.quantity),
                    "entryPrice": _s(pos.entry),
                    "breakEvenPrice": _s(pos.entry),
                    "markPrice": _s(price),
                    "unRealizedProfit": _s((price - pos.entry) * pos.quantity),
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": _s(pos.quantity * price),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": _s(abs(pos.quantity) * price / LEVERAGE),
                    "maintMargin": "0",
                    "positionInitialMargin": _s(abs(pos.quantity) * price / LEVERAGE),
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": _now_ms(),
                    "marginType": "cross",
                    "leverage": _s(LEVERAGE),
                    "isolated": False,
                }
            )
        return out

    def leverage_brackets() -> list[dict[str, Any]]:
        bracket = {
            "bracket": 1,
            "initialLeverage": 125,
            "notionalCap": 100_000_000,
            "notionalFloor": 0,
            "maintMarginRatio": 0.004,
            "cum": 0.0,
        }
        return [{"symbol": s, "brackets": [bracket]} for s in state.contracts]

    routes: dict[tuple[str, str], tuple[bool, Any]] = {
        ("GET", "/fapi/v1/ping"): (False, lambda p: {}),
        ("GET", "/fapi/v1/time"): (False, lambda p: {"serverTime": _now_ms() + state.clock_offset_ms}),
        ("GET", "/fapi/v1/exchangeInfo"): (False, lambda p: exchange_info(state)),
        ("GET", "/fapi/v1/ticker/24hr"): (False, lambda p: ticker(p.get("symbol", ""))),
        ("GET", "/fapi/v1/ticker/bookTicker"): (False, book_tickers),
        ("GET", "/fapi/v1/klines"): (False, state.klines),
        # load_markets asks these of Binance's spot API when keys are set (currencies, margin pairs)
        ("GET", "/sapi/v1/capital/config/getall"): (True, lambda p: []),
        ("GET", "/sapi/v1/margin/allPairs"): (True, lambda p: []),
        ("GET", "/fapi/v2/balance"): (True, balances),
        ("GET", "/fapi/v3/balance"): (True, balances),
        ("GET", "/fapi/v2/account"): (True, account),
        ("GET", "/fapi/v3/account"): (True, account),
        ("GET", "/fapi/v1/leverageBracket"): (True, lambda p: leverage_brackets()),
        ("GET", "/fapi/v2/positionRisk"): (True, position_risk),
        ("GET", "/fapi/v3/positionRisk"): (True, position_risk),
        ("POST", "/fapi/v1/order"): (True, state.place_answer),
        ("GET", "/fapi/v1/order"): (True, lambda p: _order_json(state.find(p))),
        ("DELETE", "/fapi/v1/order"): (True, lambda p: _order_json(state.cancel(p))),
        ("POST", "/fapi/v1/algoOrder"): (True, lambda p: _order_json(state.place(p, algo=True))),
        ("GET", "/fapi/v1/algoOrder"): (True, lambda p: _order_json(state.find(p, algo=True))),
        ("DELETE", "/fapi/v1/algoOrder"): (True, lambda p: _order_json(state.cancel(p, algo=True))),
        ("GET", "/fapi/v1/openOrders"): (
            True,
            lambda p: [
                _order_json(o)
                for o in state.orders.values()
                if not o.algo and o.status == "NEW" and (not p.get("symbol") or o.symbol == p["symbol"])
            ],
        ),
    }

    @app.route("/<path:path>", methods=["GET", "POST", "DELETE", "PUT"])
    async def dispatch(path: str) -> Response:
        route = routes.get((request.method, "/" + path))
        if route is None:
            return answer({"code": -5000, "msg": f"Path /{path}, Method {request.method} is invalid"}, 404)
        signed, work = route
        return await run(signed, work)

    return app


@asynccontextmanager
async def running_fake_binance(state: FakeBinance | None = None) -> AsyncIterator[tuple[str, FakeBinance]]:
    """Serve a fake exchange on a free loopback port for the block: (base URL, state)."""
    state = state or FakeBinance()
    app = create_fake_binance_app(state)
    fd, port = bind_socket("127.0.0.1", 0)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_simulator(app, fd, stop.wait, graceful_timeout=0.2))
    state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield state.base_url, state
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()


@contextmanager
def fake_binance_in_thread(state: FakeBinance | None = None) -> Iterator[tuple[str, FakeBinance]]:
    """The fake served from its own thread and event loop, for tests that drive processes
    synchronously (tests/e2e): (base URL, state)."""
    ready = threading.Event()
    found: dict[str, Any] = {}

    async def main() -> None:
        async with running_fake_binance(state) as (url, fake):
            found["url"], found["state"], found["stop"] = url, fake, asyncio.Event()
            found["loop"] = asyncio.get_running_loop()
            ready.set()
            await found["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="fake-binance", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the fake Binance did not start within 30 s")
    try:
        yield found["url"], found["state"]
    finally:
        found["loop"].call_soon_threadsafe(found["stop"].set)
        thread.join(15)
