"""A ccxt market's precision and limits: the instrument the domain sees, amounts and prices
rounded before they are sent, and the reason an order is refused before it is sent.

Pure functions over the market dict ccxt's `load_markets()` gives (`precision`, `limits`,
`contractSize`, `settle`, `quote`, `active`), so they are tested without an exchange.

A quantity is one unit of ccxt's amount, exact and possibly fractional (trading/domain/
quantities.py): 0.01 is 0.01 BTC on Binance USD-M (contract size 1), and a number of
contracts where the exchange trades contracts. The instrument's step is the market's amount
step, so the domain rounds down to what the exchange takes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from trading.domain import quantities
from trading.domain.market import Instrument

# ccxt's precision modes (ccxt.base.decimal_to_precision): how `precision` values read.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4

# The largest quantity the domain offers when the exchange states no maximum.
_NO_MAXIMUM = Decimal(quantities.MAX_QUANTITY)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def plain(value: Decimal) -> str:
    """A decimal as people write it: 100, not 100.0 or 1E+2."""
    return format(value.normalize(), "f")


def step_of(precision: Any, mode: int) -> Decimal | None:
    """The smallest increment `precision` allows: a tick size as is, decimal places as 10^-n."""
    value = _decimal(precision)
    if value is None:
        return None
    if mode == TICK_SIZE:
        return value if value > 0 else None
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    return None  # significant digits: no fixed step


def round_amount(amount: Decimal, step: Decimal | None) -> Decimal:
    """Down to a multiple of `step` (never more than asked)."""
    if step is None:
        return amount
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_price(price: Decimal, tick: Decimal | None) -> Decimal:
    """To the nearest multiple of `tick` (half up)."""
    if tick is None:
        return price
    return (price / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick


def _limit(market: Mapping[str, Any], what: str, end: str) -> Decimal | None:
    limits = market.get("limits") or {}
    return _decimal((limits.get(what) or {}).get(end))


def contract_size(market: Mapping[str, Any]) -> Decimal:
    return _decimal(market.get("contractSize")) or Decimal(1)


def instrument(market: Mapping[str, Any], mode: int) -> Instrument:
    """The domain's instrument for a market: quantities within the exchange's amount
    limits, on a multiple of its amount step (0.001 BTC on Binance's BTC/USDT:USDT)."""
    step = step_of((market.get("precision") or {}).get("amount"), mode) or Decimal(1)
    minimum = _limit(market, "amount", "min") or step
    maximum = _limit(market, "market", "max") or _limit(market, "amount", "max")
    min_quantity = max(step, quantities.round_up(minimum, step))
    max_quantity = quantities.round_down(min(maximum, _NO_MAXIMUM), step) if maximum is not None else _NO_MAXIMUM
    tick = step_of((market.get("precision") or {}).get("price"), mode)
    return Instrument(
        symbol=str(market["symbol"]),
        min_quantity=min_quantity,
        max_quantity=max(max_quantity, Decimal(0)),
        quantity_step=quantities.plain(step),
        tick_size=tick if tick is not None else Decimal("0.01"),
        contract_multiplier=contract_size(market),
        currency=str(market.get("settle") or market.get("quote") or ""),
        description=f"{market.get('type', '')} {market.get('id', '')}".strip(),
        trading_open=market.get("active") is not False,
    )


def order_problem(market: Mapping[str, Any], mode: int, amount: Decimal, price: Decimal | None) -> str | None:
    """Why the exchange would refuse this amount at this price (None: it would take it).
    `amount` is already rounded; `price` is the limit price or the quote's (None: the cost
    is not checked)."""
    symbol = market.get("symbol")
    if market.get("active") is False:
        return f"{symbol} is not trading on the exchange now"
    if amount <= 0:
        return f"quantity {plain(amount)} is below {symbol}'s amount step"
    step = step_of((market.get("precision") or {}).get("amount"), mode)
    if step is not None and round_amount(amount, step) != amount:
        return f"quantity {plain(amount)} is not a multiple of {symbol}'s amount step {plain(step)}"
    low = _limit(market, "amount", "min")
    if low is not None and amount < low:
        return f"quantity {plain(amount)} is below {symbol}'s minimum amount {plain(low)}"
    high = _limit(market, "amount", "max")
    if high is not None and amount > high:
        return f"quantity {plain(amount)} is above {symbol}'s maximum amount {plain(high)}"
    min_cost = _limit(market, "cost", "min")
    if price is not None and min_cost is not None:
        cost = amount * price * contract_size(market)
        if cost < min_cost:
            return f"order value {plain(cost)} is below {symbol}'s minimum {plain(min_cost)} {market.get('quote', '')}".rstrip()
    return None


# What each exchange takes as a client order id; the others: Binance's rules, the strictest
# common ones. An id that does not fit becomes a digest of itself (the same every time, so
# an order is found again by the id the desk gave it).
_CLIENT_ID_RULES: dict[str, tuple[int, re.Pattern[str]]] = {
    "okx": (32, re.compile(r"^[A-Za-z0-9]{1,32}$")),
    "kucoin": (40, re.compile(r"^[A-Za-z0-9_-]{1,40}$")),
    "kucoinfutures": (40, re.compile(r"^[A-Za-z0-9_-]{1,40}$")),
}
_DEFAULT_RULE = (36, re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$"))


def exchange_client_id(exchange_id: str, client_order_id: str) -> str:
    """The client order id to send: signaldesk's own when the exchange's rules allow it,
    else `sd` and a hex digest of it cut to the exchange's length."""
    length, allowed = _CLIENT_ID_RULES.get(exchange_id, _DEFAULT_RULE)
    if allowed.match(client_order_id):
        return client_order_id
    return ("sd" + hashlib.sha256(client_order_id.encode()).hexdigest())[:length]
