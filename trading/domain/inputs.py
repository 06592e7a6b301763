"""What a person gives the desk by hand: an approver's edit, a free-form order, a price.

One parser each, one set of limits and one error type for every face: Discord (the Edit
modal, /order), the web desk (the Edit form) and the JSON API (approve's edits, POST
/api/orders). A face only says how it names the fields and whether its numbers arrive as
typed text or as JSON numbers (`Face`). The rules, strictest of what the faces once did
(a trader's money: refuse rather than drop silently), are listed in docs/inputs.md:

- quantity: above 0, at most 1,000,000, at most 8 decimals (`0.01` BTC on an exchange
  account; whole contracts on Herenya and paper, checked where the account is known);
- price (limit, stop, target): above 0, below 1e15, at most 12 decimals; typed text may
  carry thousands separators ("53,210.5"), a JSON number must be a number, not a string;
- order type: market or limit (any case); a limit order needs a limit price, and a limit
  price goes only with a limit order (never dropped from a market order);
- an edit changes at least one value; an order names its bot, side and quantity.

Bounded before anything computes with them: a 5,000-digit quantity, or 1e999999999 or a price with 5,000 decimals breaks
the decimal arithmetic of sizing and rounding. A bad value is quoted back by a short prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from trading.domain import quantities
from trading.domain.manual import OrderTicket
from trading.domain.quantities import MAX_QUANTITY
from trading.domain.records import SignalEdits
from trading.domain.values import OrderSide, OrderType

MAX_PRICE_DIGITS = 15  # before the point: prices below 1e15
MAX_PRICE = Decimal(10) ** MAX_PRICE_DIGITS
MAX_DECIMALS = 12
MAX_BOT_NAME = 64
SHOWN = 20  # characters of a bad value quoted back

_STEP = Decimal(1).scaleb(-MAX_DECIMALS)
# ASCII digits only: str.isdigit() and int() also take "²" and "٣".
_QUANTITY = re.compile(
    rf"(?:[0-9]{{1,7}}(?:\.[0-9]{{0,{quantities.MAX_DECIMALS}}})?|\.[0-9]{{1,{quantities.MAX_DECIMALS}}})"
)
_PRICE = re.compile(rf"(?:[0-9]{{1,{MAX_PRICE_DIGITS}}}(?:\.[0-9]{{0,{MAX_DECIMALS}}})?|\.[0-9]{{1,{MAX_DECIMALS}}})")
# What reads as a number at all (signed, exponent, nan, inf): refused as out of range, not as "not a number".
_NUMBERISH = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)

Given = str | int | Decimal | None
"""A value as a face received it: typed text, a JSON number, or None (not given)."""

T = TypeVar("T")

FIELDS = ("quantity", "order_type", "limit_price", "stop_loss", "take_profit")


class InputError(ValueError):
    """A value a person gave that cannot be used; the message names the field and says why."""


@dataclass(frozen=True, slots=True)
class Face:
    """How a face names the fields in its messages, and whether its values are typed text
    (a form's boxes: strings, blank for none) or JSON (numbers must be numbers)."""

    names: Mapping[str, str]
    text: bool

    def name(self, field: str) -> str:
        return self.names.get(field, field)


TYPED = Face(
    {
        "quantity": "quantity",
        "order_type": "order type",
        "limit_price": "limit price",
        "stop_loss": "stop",
        "take_profit": "target",
    },
    text=True,
)
JSON_EDITS = Face({field: f'"{field}"' for field in (*FIELDS, "bot", "side")}, text=False)
JSON_ORDER = Face({**JSON_EDITS.names, "order_type": '"type"'}, text=False)


def shown(text: str) -> str:
    """What of a bad value goes back in a message: a short prefix, marked when cut."""
    return repr(text[:SHOWN]) + ("…" if len(text) > SHOWN else "")


def _shown(value: object) -> str:
    return shown(value if isinstance(value, str) else str(value))


def _blank(value: Given) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_quantity(face: Face, value: Given) -> Decimal | None:
    """A quantity above 0 and at most 1,000,000 with at most 8 decimals (exact: `0.01`,
    `2`; a JSON 2.0 is 2); None when not given. Whether the account trades fractions is
    checked where the account is known (trading/domain/quantities.py)."""
    if _blank(value):
        return None
    number: Decimal | None = None
    if isinstance(value, str):
        if face.text and _QUANTITY.fullmatch(value.strip()):
            number = Decimal(value.strip())
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    # The bounds first: quantize() in within_bounds needs a number of at most 27 digits.
    if (
        number is None
        or not number.is_finite()
        or not 0 < number <= MAX_QUANTITY
        or not quantities.within_bounds(number)
    ):
        raise InputError(
            f"{face.name('quantity')} must be a number above 0 and at most {MAX_QUANTITY:,} with at most "
            f"{quantities.MAX_DECIMALS} decimals, not {_shown(value.strip() if isinstance(value, str) else value)}"
        )
    return quantities.plain(number)


def parse_price(face: Face, field: str, value: Given) -> Decimal | None:
    """A price above 0 and below 1e15 with at most 12 decimals; None when not given."""
    if _blank(value):
        return None
    label = face.name(field)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not face.text or not _NUMBERISH.fullmatch(text):
            raise InputError(f"{label} must be a number, not {shown(text)}")
        price = Decimal(text) if _PRICE.fullmatch(text) else None
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        price = Decimal(value)
    else:
        raise InputError(f"{label} must be a number, not {_shown(value)}")
    # The range first: quantize() below needs a number of at most 27 digits.
    if price is None or not price.is_finite() or not 0 < price < MAX_PRICE or price != price.quantize(_STEP):
        raise InputError(
            f"{label} must be a positive number below 1e{MAX_PRICE_DIGITS} with at most {MAX_DECIMALS} decimals, "
            f"not {_shown(value.strip() if isinstance(value, str) else value)}"
        )
    return price


def parse_order_type(face: Face, value: Given) -> OrderType | None:
    """market or limit, in any case; None when not given."""
    if _blank(value):
        return None
    if isinstance(value, str) and value.strip().lower() in ("market", "limit"):
        return OrderType(value.strip().lower())
    raise InputError(f"{face.name('order_type')} must be 'market' or 'limit', not {_shown(value)}")


def _limit_problem(face: Face, kind: OrderType | None, limit: Decimal | None) -> str | None:
    if kind is OrderType.LIMIT and limit is None:
        return f"a limit order needs a {face.name('limit_price')}"
    if kind is not OrderType.LIMIT and limit is not None:
        # Dropping it would place something other than what was asked.
        return (
            f"a {face.name('limit_price')} goes only with {face.name('order_type')} 'limit' "
            "(clear it for a market order)"
        )
    return None


def _collect(problems: list[str], parse: Callable[[], T]) -> T | None:
    """parse()'s value, or None with its problem noted: one answer names every field at fault."""
    try:
        return parse()
    except InputError as e:
        problems.append(str(e))
        return None


def parse_edits(
    face: Face,
    quantity: Given = None,
    order_type: Given = None,
    limit_price: Given = None,
    stop_loss: Given = None,
    take_profit: Given = None,
) -> SignalEdits:
    """An approver's edit: what is given replaces the card's value, what is not stays (an
    edit cannot remove a stop). InputError naming every field at fault."""
    problems: list[str] = []
    qty = _collect(problems, lambda: parse_quantity(face, quantity))
    kind = _collect(problems, lambda: parse_order_type(face, order_type))
    limit = _collect(problems, lambda: parse_price(face, "limit_price", limit_price))
    stop = _collect(problems, lambda: parse_price(face, "stop_loss", stop_loss))
    target = _collect(problems, lambda: parse_price(face, "take_profit", take_profit))
    if not problems:
        wrong = _limit_problem(face, kind, limit)
        if wrong is not None:
            problems.append(wrong)
    if problems:
        raise InputError("; ".join(problems))
    edits = SignalEdits(quantity=qty, order_type=kind, limit_price=limit, stop_loss=stop, take_profit=target)
    if edits == SignalEdits():
        raise InputError("nothing to change: give at least one value")
    return edits


def parse_order(
    face: Face,
    bot: Given,
    side: Given,
    quantity: Given,
    order_type: Given = None,
    limit_price: Given = None,
    stop_loss: Given = None,
    take_profit: Given = None,
) -> OrderTicket:
    """A free-form order (market when no type is given). InputError naming every field at fault."""
    problems: list[str] = []
    if not isinstance(bot, str) or not 1 <= len(bot.strip()) <= MAX_BOT_NAME:
        problems.append(f"{face.name('bot')} must be a bot's name (bot_name)")
    if not isinstance(side, str) or side.strip().lower() not in ("buy", "sell"):
        problems.append(f"{face.name('side')} must be 'buy' or 'sell', not {_shown(side)}")
    qty = _collect(problems, lambda: parse_quantity(face, quantity))
    if qty is None and _blank(quantity):
        problems.append(f"{face.name('quantity')} is required: a number of contracts")
    kind = _collect(problems, lambda: parse_order_type(face, order_type))
    limit = _collect(problems, lambda: parse_price(face, "limit_price", limit_price))
    stop = _collect(problems, lambda: parse_price(face, "stop_loss", stop_loss))
    target = _collect(problems, lambda: parse_price(face, "take_profit", take_profit))
    if not problems:
        wrong = _limit_problem(face, kind or OrderType.MARKET, limit)
        if wrong is not None:
            problems.append(wrong)
    if problems:
        raise InputError("; ".join(problems))
    assert isinstance(bot, str) and isinstance(side, str) and qty is not None  # else a problem was noted
    return OrderTicket(
        bot=bot.strip(),
        side=OrderSide(side.strip().lower()),
        quantity=qty,
        order_type=kind or OrderType.MARKET,
        limit_price=limit,
        stop_loss=stop,
        take_profit=target,
    )
