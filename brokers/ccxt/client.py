"""The broker port over a ccxt exchange (`ccxt.async_support`): Binance, Bybit, OKX and the rest.

The rules of the Herenya client hold here too:
- an order is never placed twice: it carries signaldesk's client order id (in the form the
  exchange accepts, `markets.exchange_client_id`); after an ambiguous failure it is looked
  up by that id before anything is sent again, and an order the exchange refuses is looked
  up too, since a refused duplicate client id means it was sent already;
- amounts and prices are rounded with the market's precision and checked against its
  limits before sending, with the reason when refused;
- ccxt's exceptions become the port's (`brokers/ccxt/errors.py`); the keys never reach a
  log line, an error or a repr.

The exchange's order ids need the symbol to be read again (Binance's do), so the port's
order id is `<symbol>#<exchange order id>`. `find_order` looks in the markets this client
has used (the bots' symbols are checked at start-up, which registers them).

ccxt is imported here, and this module only when a ccxt account is built.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors

from brokers.ccxt import markets
from brokers.ccxt.errors import broker_error
from brokers.errors import (
    BrokerConfigError,
    BrokerError,
    BrokerUnavailable,
    ClientOrderIdConflict,
    DuplicateClientOrderId,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    ReduceOnlyRejected,
    RetryableBrokerError,
    UnknownOrder,
    UnknownSymbol,
    the_order_asked_for,
)
from trading.domain.accounts import CcxtAccount
from trading.domain.candles import MINUTE, Candle
from trading.domain.exchange_exits import ExitKind, ExitOrderRequest
from trading.domain.market import (
    Account,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Instrument,
    OrderRequest,
    Quote,
)
from trading.domain.values import OrderSide, OrderType

log = logging.getLogger("brokers.ccxt")

T = TypeVar("T")

# Refusals that may mean "this client id was used already": look the order up before failing.
_MAYBE_DUPLICATE = frozenset({"DUPLICATE_CLIENT_ORDER_ID", "INVALID_ORDER", "BAD_REQUEST", "EXCHANGE_ERROR"})
_STATUS = {
    "closed": BrokerOrderStatus.FILLED,
    "canceled": BrokerOrderStatus.CANCELED,
    "cancelled": BrokerOrderStatus.CANCELED,
    "expired": BrokerOrderStatus.CANCELED,
    "rejected": BrokerOrderStatus.REJECTED,
}
_REMEMBERED = 10_000  # recent orders whose symbol (and own client id) are kept in memory
# Candles asked a page: Binance futures give up to 1500 (ccxt asks at most 1000 of Binance);
# an exchange that gives fewer a page is paged on from its last candle.
_CANDLES_PAGE = 1500
_QUOTE_CURRENCIES = ("USDT", "USDC", "USD", "BUSD", "FDUSD", "EUR")
# Order parameters an exchange needs to answer with the order's outcome, not only that it
# was taken: Binance futures answer a market order "NEW" (ACK) unless asked for the RESULT,
# which would cost a read back per order.
_ORDER_PARAMS: dict[str, dict[str, str]] = {
    "binanceusdm": {"newOrderRespType": "RESULT"},
    "binancecoinm": {"newOrderRespType": "RESULT"},
}


def build_exchange(account: CcxtAccount, environment: Mapping[str, str], *, timeout: float) -> Any:
    """The ccxt exchange object for an account, its keys read from `environment`."""
    if account.exchange not in ccxt_async.exchanges:
        raise BrokerConfigError(
            "CONFIG",
            f"account {account.name}: exchange: ccxt has no exchange {account.exchange!r}",
            broker=account.name,
        )
    config: dict[str, Any] = {
        "apiKey": environment[account.api_key_env],
        "secret": environment[account.api_secret_env],
        "enableRateLimit": True,
        "timeout": int(timeout * 1000),
        # Markets are public: ccxt's Binance would also read currencies and margin pairs with
        # the keys while loading them (spot endpoints a futures testnet lacks, and a bad key
        # would then fail every look-up of an instrument). The account's options may say otherwise.
        "options": {"fetchCurrencies": False, "fetchMargins": False, **account.options},
    }
    if account.password_env:
        config["password"] = environment[account.password_env]
    exchange = getattr(ccxt_async, account.exchange)(config)
    if account.sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except ccxt_errors.NotSupported as e:
            raise BrokerConfigError(
                "CONFIG",
                f"account {account.name}: sandbox: {account.exchange} has no sandbox in ccxt",
                broker=account.name,
            ) from e
    if account.api_base_url:
        rebase(exchange, account.api_base_url)
    return exchange


def rebase(exchange: Any, base_url: str) -> None:
    """Point every URL of the exchange's `urls["api"]` at `base_url`, keeping each path.

    ccxt's Binance picks its table of error codes by the real host in the URL
    (`get_exceptions_by_url`); the rewritten URL would match none and a margin refusal
    would arrive as a bare ExchangeError, so that look-up is given the original URL."""
    originals: list[tuple[str, str]] = []

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            new = base_url + parts.path
            originals.append((new, value))
            return new
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])
    lookup = getattr(exchange, "get_exceptions_by_url", None)
    if lookup is None:
        return
    # The longest rewritten prefix first: /fapi/v2 before /fapi.
    originals.sort(key=lambda pair: len(pair[0]), reverse=True)

    def exceptions_by_url(url: str | None, exact_or_broad: str) -> Any:
        if url is not None:
            for new, original in originals:
                if url.startswith(new):
                    url = original + url[len(new) :]
                    break
        return lookup(url, exact_or_broad)

    exchange.get_exceptions_by_url = exceptions_by_url


# Exits on the exchange (the port's ExitOrders). A stop is ccxt's unified market order with
# `stopLossPrice`, a target one with `takeProfitPrice`, both reduce-only: Binance USDⓈ-M makes
# them STOP_MARKET / TAKE_PROFIT_MARKET orders on its algo-order endpoint (ccxt >= 4.5), which
# is also where they are read and cancelled (`trigger: True`). A triggered Binance algo order
# carries no fill of its own: the market order it became (`actualOrderId`) is read for that.
# Exactly once as for orders: an exit is looked up by its client id before it is sent, and
# again after a failure whose outcome is unknown or a refusal that may be a repeated id.
_TRIGGER = {"trigger": True}
# What `exchange.has` must say for exits to rest on the exchange.
_NEEDED = ("createStopMarketOrder", "createTakeProfitOrder", "createReduceOnlyOrder")
# Refusals that may mean "this client id was used already": look the exit up before failing.
_MAYBE_DUPLICATE = frozenset({"DUPLICATE_CLIENT_ORDER_ID", "INVALID_ORDER", "BAD_REQUEST", "EXCHANGE_ERROR"})


class CcxtBroker:
    """The Broker port for one exchange account. Create once, share, `await aclose()` at shutdown."""

    def __init__(
        self,
        exchange: Any,
        *,
        name: str,
        secrets: Iterable[str] = (),
        retry_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        settle_timeout: float = 10.0,
        poll_interval: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self._exchange = exchange
        self.name = name
        self.exchange_id: str = exchange.id
        self._secrets = tuple(s for s in secrets if s)
        self.retry_attempts = retry_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self._rng = rng or random.Random()
        self._markets: dict[str, Any] | None = None
        self._markets_lock = asyncio.Lock()
        # Symbols this client has used, in order: where find_order looks.
        self._symbols: dict[str, None] = {}
        # The recent orders placed here: client order id -> symbol, and the id sent -> ours
        # where the exchange's rules made them differ (a digest); the oldest forgotten first.
        self._order_symbols: OrderedDict[str, str] = OrderedDict()
        self._desk_ids: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def for_account(
        cls, account: CcxtAccount, environment: Mapping[str, str], *, timeout: float = 30.0, retry_attempts: int = 3
    ) -> CcxtBroker:
        exchange = build_exchange(account, environment, timeout=timeout)
        secrets = [environment[e] for e in account.secret_envs]
        return cls(exchange, name=account.name, secrets=secrets, retry_attempts=retry_attempts)

    def __repr__(self) -> str:
        return f"CcxtBroker(name={self.name!r}, exchange={self.exchange_id!r})"

    async def aclose(self) -> None:
        await self._exchange.close()

    # ------------------------------------------------------------------- markets

    async def load_markets(self) -> dict[str, Any]:
        """The exchange's markets by unified symbol (loaded once)."""
        async with self._markets_lock:
            if self._markets is None:
                self._markets = dict(await self._call(self._exchange.load_markets))
        return self._markets

    async def market(self, symbol: str) -> Mapping[str, Any]:
        # Known before the markets load: an order on it can be looked up even if they never do.
        self._symbols.setdefault(symbol, None)
        found: Mapping[str, Any] | None = (await self.load_markets()).get(symbol)
        if found is None:
            self._symbols.pop(symbol, None)
            raise UnknownSymbol(
                "BAD_SYMBOL",
                f"{self.exchange_id} lists no market {symbol!r} (write the exchange's unified symbol, "
                "e.g. BTC/USDT:USDT for a USDT perpetual, BTC/USDT for spot)",
                broker=self.name,
            )
        return found

    # ------------------------------------------------------------------- the Broker port

    async def get_instrument(self, symbol: str) -> Instrument:
        return markets.instrument(await self.market(symbol), self._exchange.precisionMode)

    async def get_quote(self, symbol: str) -> Quote:
        await self.market(symbol)
        ticker = await self._call(self._exchange.fetch_ticker, symbol)
        if (ticker.get("bid") is None or ticker.get("ask") is None) and self._exchange.has.get("fetchBidsAsks"):
            # Binance futures' 24 h ticker carries no bid and ask; its book ticker does.
            book = (await self._call(self._exchange.fetch_bids_asks, [symbol])).get(symbol) or {}
            ticker = {**ticker, "bid": book.get("bid"), "ask": book.get("ask")}
        last = _decimal(ticker.get("last")) or _decimal(ticker.get("close"))
        bid = _decimal(ticker.get("bid")) or last
        ask = _decimal(ticker.get("ask")) or last
        if last is None or bid is None or ask is None:
            raise UnknownSymbol("NO_QUOTE", f"{self.exchange_id} gave no price for {symbol}", broker=self.name)
        return Quote(symbol=symbol, bid=bid, ask=ask, last=last, time=_time(ticker.get("timestamp")))

    @property
    def offers_candles(self) -> bool:
        """Whether the exchange gives one-minute candles (the port's CandleSource)."""
        return bool(self._exchange.has.get("fetchOHLCV")) and "1m" in (self._exchange.timeframes or {})

    async def get_candles(self, symbol: str, since: datetime, until: datetime) -> list[Candle]:
        """The exchange's one-minute candles starting in [since, until), in time order, paged."""
        await self.market(symbol)
        start, end = _millis(since), _millis(until)
        step = MINUTE // timedelta(milliseconds=1)
        candles: list[Candle] = []
        while start < end:
            limit = min(_CANDLES_PAGE, -(-(end - start) // step))
            page = await self._call(self._exchange.fetch_ohlcv, symbol, "1m", start, limit, {"until": end - 1})
            rows = [row for row in page if start <= int(row[0]) < end and None not in row[1:5]]
            if not rows:
                break
            candles += [_candle(row) for row in rows]
            start = int(rows[-1][0]) + step
        return candles

    async def get_account(self) -> Account:
        balance = await self._call(self._exchange.fetch_balance)
        totals: Mapping[str, Any] = balance.get("total") or {}
        currency = self._account_currency(totals)
        total = _decimal(totals.get(currency)) or Decimal(0)
        free = _decimal((balance.get("free") or {}).get(currency)) or Decimal(0)
        used = _decimal((balance.get("used") or {}).get(currency)) or Decimal(0)
        return Account(
            account_id=self.name,
            currency=currency,
            balance=total,
            equity=total,
            margin_used=used,
            margin_available=free,
        )

    async def get_positions(self) -> list[BrokerPosition]:
        if not self._exchange.has.get("fetchPositions"):
            return await self._spot_positions()
        await self.load_markets()
        found: list[BrokerPosition] = []
        for p in await self._call(self._exchange.fetch_positions):
            contracts = _decimal(p.get("contracts")) or Decimal(0)
            if contracts == 0:
                continue
            sign = -1 if p.get("side") == "short" else 1
            found.append(
                BrokerPosition(
                    symbol=str(p["symbol"]),
                    quantity=sign * contracts,
                    average_price=_decimal(p.get("entryPrice")) or Decimal(0),
                    unrealized_pnl=_decimal(p.get("unrealizedPnl")) or Decimal(0),
                )
            )
        return found

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        market = await self.market(request.symbol)
        cid = request.client_order_id
        sent_cid = markets.exchange_client_id(self.exchange_id, cid)
        self._remember(cid, sent_cid, request.symbol)
        amount, price = await self._checked(market, request)
        params: dict[str, Any] = {**_ORDER_PARAMS.get(self.exchange_id, {}), "clientOrderId": sent_cid}
        if request.reduce_only and market.get("contract"):
            params["reduceOnly"] = True
        if request.type is OrderType.LIMIT:
            params["timeInForce"] = request.time_in_force or "GTC"
        ambiguous = False
        failures = 0
        last: RetryableBrokerError | None = None
        while True:
            if ambiguous:
                try:
                    found = await self._find(cid, request.symbol)
                except BrokerError as e:  # unreachable, or no look-up by client id: unknown either way
                    raise OrderOutcomeUnknown(
                        cid,
                        f"order {cid} may have been placed: the look-up after {failures} failed tries failed too ({e})",
                        broker=self.name,
                        tries=failures,
                    ) from e
                if found is not None:
                    return await self._settle(self._asked_for(request, found))
            try:
                raw = await self._exchange.create_order(
                    request.symbol,
                    request.type.value,
                    request.side.value.lower(),
                    float(amount),
                    float(price) if request.type is OrderType.LIMIT and price is not None else None,
                    params,
                )
            except ccxt_errors.BaseError as e:
                error = self._error(e)
                if isinstance(error, RetryableBrokerError):
                    last = error
                    ambiguous = ambiguous or error.ambiguous
                    failures += 1
                    if failures > self.retry_attempts:
                        break
                    log.warning(
                        "%s order %s failed (%s), try %d of %d",
                        self.name,
                        cid,
                        error.code,
                        failures,
                        self.retry_attempts + 1,
                    )
                    await self._backoff(failures, error)
                    continue
                outcome = await self._refused(request, error)
                if isinstance(outcome, BrokerOrder):
                    return await self._settle(self._asked_for(request, outcome))
                raise outcome from e
            return await self._settle(self._asked_for(request, self._order(raw, cid)))
        assert last is not None
        if ambiguous:
            raise OrderOutcomeUnknown(
                cid,
                f"order {cid}: outcome unknown after {failures} tries; look it up by client id before anything else"
                f" (last failure: {last})",
                broker=self.name,
                tries=failures,
            ) from last
        raise OrderNotPlaced(
            cid,
            f"order {cid} was not placed after {failures} tries (last failure: {last})",
            broker=self.name,
            tries=failures,
        ) from last

    async def get_order(self, order_id: str) -> BrokerOrder:
        symbol, exchange_id = _split_order_id(order_id, self.name)
        return self._order(await self._call(self._exchange.fetch_order, exchange_id, symbol), None)

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        return await self._find(client_order_id, self._order_symbols.get(client_order_id))

    async def cancel_order(self, order_id: str) -> BrokerOrder:
        symbol, exchange_id = _split_order_id(order_id, self.name)
        await self._call(self._exchange.cancel_order, exchange_id, symbol)
        # Exchanges answer a cancel with more or less of the order: read it back whole.
        return await self.get_order(order_id)

    # ------------------------------------------------------------------- exits on the exchange (ExitOrders)

    async def places_exits(self, symbol: str) -> bool:
        """Whether `symbol`'s exits can rest on this exchange: a derivatives market (a spot
        balance has nothing to reduce-only against) and the order types in `exchange.has`."""
        has = self._exchange.has
        if not all(has.get(name) for name in _NEEDED):
            return False
        return bool((await self.market(symbol)).get("contract"))

    async def place_exit(self, request: ExitOrderRequest) -> BrokerOrder:
        market = await self.market(request.symbol)
        cid = request.client_order_id
        sent = markets.exchange_client_id(self.exchange_id, cid)
        self._remember(cid, sent, request.symbol)
        mode = self._exchange.precisionMode
        precision = market.get("precision") or {}
        amount = markets.round_amount(Decimal(request.quantity), markets.step_of(precision.get("amount"), mode))
        trigger = markets.round_price(request.trigger_price, markets.step_of(precision.get("price"), mode))
        level = "stopLossPrice" if request.kind is ExitKind.STOP else "takeProfitPrice"
        params: dict[str, Any] = {"clientOrderId": sent, "reduceOnly": True, level: float(trigger)}
        failures = 0
        while True:
            found = await self.find_exit(cid, request.symbol)
            if found is not None:
                return found
            try:
                raw = await self._exchange.create_order(
                    request.symbol, "market", request.side.value, float(amount), None, params
                )
            except ccxt_errors.BaseError as e:
                error = self._error(e)
                if isinstance(error, RetryableBrokerError):
                    failures += 1
                    if failures > self.retry_attempts:
                        raise OrderOutcomeUnknown(
                            cid, f"exit {cid}: outcome unknown after {failures} tries ({error})", broker=self.name
                        ) from e
                    log.warning("%s exit %s failed (%s), try %d", self.name, cid, error.code, failures)
                    await self._backoff(failures, error)
                    continue  # looked up first: it may have been placed
                if error.code in _MAYBE_DUPLICATE:
                    found = await self.find_exit(cid, request.symbol)
                    if found is not None:
                        return found
                raise error from e
            return self._exit_order(raw, cid, None)

    async def find_exit(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        sent = markets.exchange_client_id(self.exchange_id, client_order_id)
        try:
            raw = await self._call(self._exchange.fetch_order, None, symbol, {"clientOrderId": sent, **_TRIGGER})
        except UnknownOrder:
            return None
        actual: Mapping[str, Any] | None = None
        info = raw.get("info") or {}
        actual_id = info.get("actualOrderId")
        if raw.get("status") == "closed" and not raw.get("filled") and actual_id not in (None, "", "0", 0):
            # Triggered: what it closed is on the market order it became.
            actual = await self._call(self._exchange.fetch_order, str(actual_id), symbol)
        return self._exit_order(raw, client_order_id, actual)

    async def cancel_exit(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        sent = markets.exchange_client_id(self.exchange_id, client_order_id)
        try:
            await self._call(self._exchange.cancel_order, None, symbol, {"clientOrderId": sent, **_TRIGGER})
        except UnknownOrder:
            pass  # not resting any more (triggered, cancelled, or never placed): read what it is
        except BrokerError as e:
            if isinstance(e, RetryableBrokerError):
                raise
            log.info("%s: cancel of exit %s refused (%s); reading it", self.name, client_order_id, e)
        return await self.find_exit(client_order_id, symbol)

    def _exit_order(
        self, raw: Mapping[str, Any], client_order_id: str, actual: Mapping[str, Any] | None
    ) -> BrokerOrder:
        """The exit as the port's order: a resting one NEW; a triggered one FILLED with what its
        close filled (CANCELED when it filled nothing: nothing was left to reduce). Final with
        nothing filled means it closed nothing."""
        order = self._order(raw, client_order_id)
        if actual is None:
            return replace(order, reduce_only=True)
        filled = self._order(actual, client_order_id)
        status = BrokerOrderStatus.FILLED if filled.filled_quantity > 0 else BrokerOrderStatus.CANCELED
        if not filled.status.is_final:
            status = BrokerOrderStatus.PARTIALLY_FILLED if filled.filled_quantity else BrokerOrderStatus.NEW
        return BrokerOrder(
            order_id=order.order_id,
            client_order_id=client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            quantity=order.quantity,
            status=status,
            filled_quantity=filled.filled_quantity,
            average_fill_price=filled.average_fill_price,
            reduce_only=True,
            created_at=order.created_at,
            updated_at=filled.updated_at,
        )

    # ------------------------------------------------------------------- internals

    async def _checked(self, market: Mapping[str, Any], request: OrderRequest) -> tuple[Decimal, Decimal | None]:
        """The amount and price to send, rounded; OrderRejected with the reason when the
        exchange would refuse them (nothing is sent)."""
        mode = self._exchange.precisionMode
        precision = market.get("precision") or {}
        if market.get("spot") and request.side is OrderSide.SELL and not request.reduce_only:
            raise OrderRejected(
                "SPOT_SHORT",
                f"{request.client_order_id}: {request.symbol} is a spot market: a sell that opens a short is not possible",
                broker=self.name,
            )
        amount = markets.round_amount(request.quantity, markets.step_of(precision.get("amount"), mode))
        price: Decimal | None = None
        if request.type is OrderType.LIMIT and request.limit_price is not None:
            price = markets.round_price(request.limit_price, markets.step_of(precision.get("price"), mode))
        elif not request.reduce_only:
            # The minimum order value does not bind a reduce-only close.
            price = request.reference_price or (await self.get_quote(request.symbol)).price_for(request.side)
        problem = markets.order_problem(market, mode, amount, price)
        if problem is not None or amount != request.quantity:
            why = problem or f"quantity {request.quantity} is not a multiple of the market's amount step"
            raise OrderRejected("ORDER_LIMITS", f"{request.client_order_id}: {why}", broker=self.name)
        return amount, price

    async def _refused(self, request: OrderRequest, error: BrokerError) -> BrokerOrder | BrokerError:
        """What a final answer to a placement means: the order itself when the refusal was
        of a client id already used (it was sent before), a refused reduce-only order when
        the exchange holds nothing it would reduce, else the refusal."""
        if error.code not in _MAYBE_DUPLICATE:
            return error
        try:
            found = await self._find(request.client_order_id, request.symbol)
        except BrokerError as e:
            log.warning("%s: look-up of %s after a refusal failed: %s", self.name, request.client_order_id, e)
            found = None
        if found is not None:
            log.info("%s: order %s was refused as a repeat; it is on the exchange", self.name, request.client_order_id)
            return found
        if request.reduce_only and not await self._would_reduce(request):
            return ReduceOnlyRejected("REDUCE_ONLY_REJECTED", error.message, broker=self.name)
        if isinstance(error, DuplicateClientOrderId):
            return ClientOrderIdConflict("CLIENT_ORDER_ID_CONFLICT", error.message, broker=self.name)
        return error

    async def _would_reduce(self, request: OrderRequest) -> bool:
        try:
            positions = await self.get_positions()
        except BrokerError:
            return True  # unknown: keep the exchange's own refusal
        held = sum(p.quantity for p in positions if p.symbol == request.symbol)
        return held < 0 if request.side is OrderSide.BUY else held > 0

    async def _find(self, client_order_id: str, symbol: str | None) -> BrokerOrder | None:
        sent_cid = markets.exchange_client_id(self.exchange_id, client_order_id)
        symbols = [symbol] if symbol is not None else list(self._symbols)
        if not symbols:
            # Nowhere to look is not "not placed": the caller must not send it again yet.
            raise BrokerUnavailable(
                "NO_MARKET_KNOWN",
                f"{self.exchange_id} needs the symbol to find order {client_order_id}; no market is in use yet",
                broker=self.name,
                ambiguous=True,
            )
        for s in symbols:
            try:
                raw = await self._call(self._exchange.fetch_order, None, s, {"clientOrderId": sent_cid})
            except UnknownOrder:
                continue
            return self._order(raw, client_order_id)
        return None

    def _asked_for(self, request: OrderRequest, order: BrokerOrder) -> BrokerOrder:
        return the_order_asked_for(request, order, broker=self.name, held="on the exchange")

    async def _settle(self, order: BrokerOrder) -> BrokerOrder:
        """Poll a non-final market order until final or the deadline (a resting limit is
        returned at once: resting is what it is for)."""
        if order.status.is_final or order.type is OrderType.LIMIT:
            return order
        deadline = time.monotonic() + self.settle_timeout
        wait = min(0.05, self.poll_interval)
        while time.monotonic() < deadline:
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(wait * 2, self.poll_interval)
            try:
                polled = await self.get_order(order.order_id)
            except RetryableBrokerError as e:
                log.warning("%s poll of %s failed (%s); still waiting", self.name, order.order_id, e.code)
                continue
            order = replace(polled, client_order_id=order.client_order_id)
            if order.status.is_final:
                return order
        return order

    def _order(self, raw: Mapping[str, Any], client_order_id: str | None) -> BrokerOrder:
        symbol = str(raw.get("symbol"))
        amount = _decimal(raw.get("amount")) or Decimal(0)
        filled = _decimal(raw.get("filled")) or Decimal(0)
        status = _STATUS.get(str(raw.get("status")))
        if status is None:
            status = BrokerOrderStatus.PARTIALLY_FILLED if filled > 0 else BrokerOrderStatus.NEW
        kind = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
        sent = str(raw.get("clientOrderId") or "")
        cid = client_order_id or self._desk_ids.get(sent, sent)
        return BrokerOrder(
            order_id=f"{symbol}#{raw.get('id')}",
            client_order_id=cid,
            symbol=symbol,
            side=OrderSide.BUY if raw.get("side") == "buy" else OrderSide.SELL,
            type=kind,
            quantity=amount,
            status=status,
            filled_quantity=filled,
            average_fill_price=_decimal(raw.get("average")) if filled > 0 else None,
            limit_price=_decimal(raw.get("price")) if kind is OrderType.LIMIT else None,
            time_in_force=str(raw.get("timeInForce") or ("GTC" if kind is OrderType.LIMIT else "IOC")),
            reduce_only=bool(raw.get("reduceOnly")),
            created_at=_time(raw.get("timestamp")) if raw.get("timestamp") else None,
            updated_at=_time(raw.get("lastUpdateTimestamp")) if raw.get("lastUpdateTimestamp") else None,
        )

    def _remember(self, cid: str, sent_cid: str, symbol: str) -> None:
        self._order_symbols[cid] = symbol
        self._order_symbols.move_to_end(cid)
        if sent_cid != cid:
            self._desk_ids[sent_cid] = cid
        for remembered in (self._order_symbols, self._desk_ids):
            while len(remembered) > _REMEMBERED:
                remembered.popitem(last=False)

    def _account_currency(self, totals: Mapping[str, Any]) -> str:
        """The settle currency of the markets in use, else the first common quote currency held."""
        for symbol in self._symbols:
            market = (self._markets or {}).get(symbol) or {}
            settle = market.get("settle") or market.get("quote")
            if settle:
                return str(settle)
        held = [c for c in _QUOTE_CURRENCIES if totals.get(c)]
        return held[0] if held else _QUOTE_CURRENCIES[0]

    async def _spot_positions(self) -> list[BrokerPosition]:
        """Spot: what is held of each used market's base currency is a long position."""
        balance = await self._call(self._exchange.fetch_balance)
        totals: Mapping[str, Any] = balance.get("total") or {}
        found = []
        for symbol in self._symbols:
            market = (self._markets or {}).get(symbol) or {}
            base = market.get("base")
            held = _decimal(totals.get(base)) if base else None
            if held:
                # Dust below the amount step cannot be traded and is no position.
                step = markets.step_of((market.get("precision") or {}).get("amount"), self._exchange.precisionMode)
                quantity = markets.round_amount(held, step)
                if quantity:
                    found.append(BrokerPosition(symbol, quantity, Decimal(0), Decimal(0)))
        return found

    def _error(self, error: ccxt_errors.BaseError) -> BrokerError:
        return broker_error(error, broker=self.name, secrets=self._secrets)

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any) -> T:
        """A request that is safe to repeat, with retries of retryable failures."""
        failures = 0
        while True:
            try:
                return await method(*args)
            except ccxt_errors.BaseError as e:
                error = self._error(e)
                if not isinstance(error, RetryableBrokerError):
                    raise error from e
                failures += 1
                if failures > self.retry_attempts:
                    raise error from e
                log.warning(
                    "%s %s failed (%s), try %d of %d",
                    self.name,
                    method.__name__,
                    error.code,
                    failures,
                    self.retry_attempts + 1,
                )
                await self._backoff(failures, error)

    async def _backoff(self, failures: int, error: BrokerError) -> None:
        if error.code == "INVALID_NONCE" and self._exchange.has.get("fetchTime"):
            # Our clock is off the exchange's: learn the difference (ccxt signs with it) first.
            try:
                await self._exchange.load_time_difference()
            except ccxt_errors.BaseError as e:
                log.warning("%s: reading the exchange's time failed: %s", self.name, self._error(e))
        delay = self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (failures - 1)))
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        await asyncio.sleep(delay)


def _split_order_id(order_id: str, broker: str) -> tuple[str, str]:
    symbol, sep, exchange_id = order_id.rpartition("#")
    if not sep or not symbol or not exchange_id:
        raise UnknownOrder(
            "ORDER_NOT_FOUND", f"{order_id!r} is not an order id of this exchange (symbol#id)", broker=broker
        )
    return symbol, exchange_id


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _candle(row: list[Any]) -> Candle:
    """ccxt's [time ms, open, high, low, close, volume] as a candle."""
    at = datetime.fromtimestamp(int(row[0]) / 1000, UTC)
    open_, high, low, close = (Decimal(str(v)) for v in row[1:5])
    return Candle(at, open_, high, low, close)


def _time(millis: Any) -> datetime:
    if millis is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(int(millis) / 1000, UTC)
