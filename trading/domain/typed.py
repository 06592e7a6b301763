"""Numbers a person types into a form (the web desk's Edit form, Discord's Edit modal).

Bounded before anything computes with them: a 5,000-digit quantity cannot become an int
(Python refuses past 4,300 digits), and 1e999999999 or a price with 5,000 decimals breaks
the decimal arithmetic of sizing and rounding. Past the bounds the answer is a short
message that quotes at most a short prefix of what was typed.
"""

from __future__ import annotations

import re
from decimal import Decimal

MAX_QUANTITY = 1_000_000  # contracts, as the API and the alerts take them
MAX_PRICE_DIGITS = 15  # before the point: prices below 1e15
MAX_DECIMALS = 12
SHOWN = 20  # characters of a bad value quoted back

# ASCII digits only: str.isdigit() and int() also take "²" and "٣".
_QUANTITY = re.compile(r"[0-9]{1,7}")
_PRICE = re.compile(rf"(?:[0-9]{{1,{MAX_PRICE_DIGITS}}}(?:\.[0-9]{{0,{MAX_DECIMALS}}})?|\.[0-9]{{1,{MAX_DECIMALS}}})")


class TypedValueError(ValueError):
    """A typed value that cannot be used; the message says which box and why."""


def shown(text: str) -> str:
    """What of a bad value goes back in a message: a short prefix, marked when cut."""
    return repr(text[:SHOWN]) + ("…" if len(text) > SHOWN else "")


def typed_price(label: str, text: str) -> Decimal | None:
    """A price above zero, below 1e15, with at most 12 decimals; None for an empty box.
    Thousands separators are allowed ("53,210.5")."""
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        return None
    if not _PRICE.fullmatch(cleaned) or Decimal(cleaned) <= 0:
        raise TypedValueError(
            f"{label} must be a number above 0 and below 1e{MAX_PRICE_DIGITS} with at most "
            f"{MAX_DECIMALS} decimals, not {shown(cleaned)}"
        )
    return Decimal(cleaned)


def typed_quantity(label: str, text: str) -> int | None:
    """A whole number of contracts from 1 to 1,000,000; None for an empty box."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if not _QUANTITY.fullmatch(cleaned) or not 1 <= int(cleaned) <= MAX_QUANTITY:
        raise TypedValueError(
            f"{label} must be a whole number of contracts from 1 to {MAX_QUANTITY:,}, not {shown(cleaned)}"
        )
    return int(cleaned)
