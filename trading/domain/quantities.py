"""Quantities: exact decimals, whole contracts where the broker trades whole contracts.

A quantity is a `Decimal` everywhere below the faces (never a float): `1` is one contract
on Herenya and paper accounts, one unit of ccxt's amount on an exchange account (one BTC on
Binance USDⓈ-M's `BTC/USDT:USDT`), where `0.01` is allowed. The instrument says which: its
`quantity_step` is 1 on whole-contract brokers, the market's amount step on an exchange.

Bounded so every quantity is exact in a JSON number (at most 15 significant digits: a
float's repr round-trips it) and in the database's Numeric(38, 12): at most 1,000,000 and
at most 8 decimals (a satoshi).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

Quantity = Decimal
"""A number of contracts or of the exchange's amount unit; exact."""

MAX_QUANTITY = 1_000_000  # by hand or in an alert (trading/domain/alerts.py, inputs.py)
MAX_DECIMALS = 8
_SMALLEST = Decimal(1).scaleb(-MAX_DECIMALS)
ZERO = Decimal(0)
ONE = Decimal(1)


def plain(value: Decimal) -> Decimal:
    """`value` without trailing zeros or an exponent: 1.000 → 1, 0.0100 → 0.01, 1E+1 → 10."""
    value = Decimal(value)  # an int given by a caller that counts whole contracts is taken too
    if value == value.to_integral_value():
        return value.quantize(ONE)
    return value.normalize()


def is_whole(value: Decimal) -> bool:
    value = Decimal(value)
    return value == value.to_integral_value()


def within_bounds(value: Decimal) -> bool:
    """Finite, at most MAX_QUANTITY in size and at most MAX_DECIMALS places."""
    return value.is_finite() and abs(value) <= MAX_QUANTITY and value == value.quantize(_SMALLEST)


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value` (towards zero for negatives)."""
    if step <= 0:
        raise ValueError(f"a quantity step must be above zero, not {step}")
    return plain((Decimal(value) / step).to_integral_value(rounding=ROUND_DOWN) * step)


def round_up(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` not below `value` (for positive values)."""
    down = round_down(value, step)
    return down if down == value else plain(down + step)


def whole_contracts_refusal(value: Decimal, symbol: str, where: str) -> str | None:
    """Why `value` cannot be traded on a whole-contract account (None: it can): 'BTCUSD
    trades whole contracts on Herenya: 0.5 is not a whole number'."""
    if is_whole(value):
        return None
    return f"{symbol} trades whole contracts on {where}: {plain(value)} is not a whole number"


def step_refusal(value: Decimal, step: Decimal, symbol: str, where: str) -> str | None:
    """Why `value` is not on the instrument's step (None: it is). Whole-contract instruments
    (step 1) say so in those words."""
    if step == ONE:
        return whole_contracts_refusal(value, symbol, where)
    if round_down(value, step) == value:
        return None
    return f"{symbol} trades in steps of {plain(step)} on {where}: {plain(value)} is not a multiple of it"


def json_number(value: Decimal) -> int | float:
    """`value` as a JSON number other tools read: 1 stays `1`, 0.01 is `0.01` (never a string).
    Exact: a quantity has at most 15 significant digits (MAX_QUANTITY, MAX_DECIMALS), which a
    float's shortest repr gives back digit for digit."""
    exact = plain(value)
    return int(exact) if is_whole(exact) else float(exact)
