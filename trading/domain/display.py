"""Numbers as a trader reads them: money, prices and quantities rounded once, for display.

Every face (Discord, the web desk, the CLI, replay's reports) formats through here, so a
price reads the same everywhere. The values themselves stay exact: the database and the
API keep full precision; only the text shown is rounded. Money goes to its currency's
places, a price (an average included) to the places of the instrument's tick, a quantity
exactly as held, without trailing zeros (`1`, `0.01`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

from trading.domain import quantities

NONE = "—"  # a value that is not known (no quote, no stop)

# ISO 4217 minor units where they are not 2 (the currencies a broker here may quote in).
_CURRENCY_PLACES = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
}
_DEFAULT_PLACES = 2
# Without a tick (an instrument not yet fetched) a price keeps at most this many places.
_MAX_PRICE_PLACES = 8
# Wide enough for any stored value (38 digits) with its places: the default 28 would refuse.
_WIDE = Context(prec=60, rounding=ROUND_HALF_EVEN)


def currency_places(currency: str) -> int:
    """Decimal places of an amount in `currency` (2 unless ISO 4217 says otherwise)."""
    return _CURRENCY_PLACES.get(currency.strip().upper(), _DEFAULT_PLACES)


def tick_places(tick: Decimal) -> int:
    """Decimal places a price on this tick needs: 0.5 → 1, 0.25 → 2, 5 → 0."""
    exponent = tick.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _rounded(value: Decimal, places: int) -> Decimal:
    rounded = value.quantize(Decimal(1).scaleb(-places), context=_WIDE)
    return rounded if rounded else abs(rounded)  # never "-0.00"


def _text(value: Decimal, grouped: bool) -> str:
    return f"{value:,f}" if grouped else f"{value:f}"


def price(value: Decimal | None, tick: Decimal | None = None, *, grouped: bool = True) -> str:
    """A price or an average price: '53,210.8' on a 0.5 tick. Without a tick, the price as
    quoted ('53,211.0'), cut to 8 places when it has more (an average)."""
    if value is None:
        return NONE
    if tick is not None and tick > 0:
        return _text(_rounded(value, tick_places(tick)), grouped)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -_MAX_PRICE_PLACES:
        return _text(value if value else abs(value), grouped)
    text = _text(_rounded(value, _MAX_PRICE_PLACES), grouped)
    return text.rstrip("0").rstrip(".") if "." in text else text


def amount(value: Decimal, currency: str = "", *, signed: bool = False, grouped: bool = True) -> str:
    """The number of an amount of money, to its currency's places: '1,234.50', '-80.00'
    ('+1,234.50' when `signed`)."""
    rounded = _rounded(value, currency_places(currency))
    text = _text(rounded, grouped)
    return f"+{text}" if signed and rounded > 0 else text


def money(value: Decimal | None, currency: str = "", *, signed: bool = True) -> str:
    """An amount with its currency, signed (P&L): '+1,234.50 ZAR', '-80.00 ZAR', '0.00 ZAR'."""
    if value is None:
        return NONE
    return f"{amount(value, currency, signed=signed)} {currency}".rstrip()


def risk(value: Decimal | None, currency: str = "") -> str:
    """Money lost if the stop is hit, shown positive (the face labels it "at risk"):
    '2,393.50 ZAR'."""
    if value is None:
        return NONE
    return money(abs(value), currency, signed=False)


def quantity(value: Decimal | int | None) -> str:
    """Contracts or an exchange's amount, exact, without trailing zeros: '3', '1,200', '0.01'."""
    if value is None:
        return NONE
    return f"{quantities.plain(Decimal(value)):,f}"


def signed_quantity(value: Decimal | int) -> str:
    """A net position, signed: '+3', '-0.01', '+0'."""
    exact = quantities.plain(Decimal(value))
    return f"{'-' if exact < 0 else '+'}{abs(exact):f}"


def number(value: Decimal | None) -> str:
    """A setting or a ratio as given, without exponent or trailing zeros: '0.5', '2'."""
    if value is None:
        return NONE
    return f"{value.normalize():f}"


def percent(value: Decimal | None, places: int = 2) -> str:
    """A signed percentage: '+0.42%'."""
    if value is None:
        return NONE
    rounded = _rounded(value, places)
    return f"{'+' if rounded > 0 else ''}{rounded:f}%"


def position(side: str | None, size: Decimal, average: Decimal | None, tick: Decimal | None = None) -> str:
    """A position in one phrase: 'long 3 @ 53,210.8', or 'flat'."""
    if side is None or size == 0:
        return "flat"
    return f"{side} {quantity(size)} @ {price(average, tick) if average is not None else '?'}"
