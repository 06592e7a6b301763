"""Column types that keep money exact and times in UTC on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

SCALE = 12
PRECISION = 38
_QUANTUM = Decimal(1).scaleb(-SCALE)
_MAX = Decimal(10) ** (PRECISION - SCALE)
# Wide enough for any stored value: the default context (28 digits) would round 38-digit ones.
_WIDE = Context(prec=PRECISION + 20, rounding=ROUND_HALF_EVEN)


def to_exact(value: Decimal) -> Decimal:
    """`value` as stored: at most 12 decimal places (half-even), so SQLite and
    PostgreSQL's Numeric(38, 12) hold the very same number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)  # exact too (a whole number of contracts); a float never is
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal for an exact column, got {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise ValueError(f"cannot store {value} in an exact decimal column")
    try:
        exact = value.quantize(_QUANTUM, context=_WIDE)
    except InvalidOperation as e:
        raise ValueError(f"{value} has too many digits for Numeric({PRECISION}, {SCALE})") from e
    if abs(exact) >= _MAX:
        raise ValueError(f"{value} has more than {PRECISION - SCALE} integer digits")
    return exact


_FRAC_UNITS = Decimal(10) ** SCALE


def split_exact(value: Decimal) -> tuple[int, int]:
    """`value` as stored (see to_exact), as two integers that databases add exactly: its
    floor and the rest in units of 10**-SCALE (0 <= rest < 10**SCALE)."""
    exact = to_exact(value)
    whole = exact.to_integral_value(rounding=ROUND_FLOOR)
    return int(whole), int(_WIDE.multiply(_WIDE.subtract(exact, whole), _FRAC_UNITS))


def join_exact(whole: int, frac: int) -> Decimal:
    """The inverse of split_exact, also for sums of split values."""
    return trim(_WIDE.add(Decimal(whole), Decimal(frac).scaleb(-SCALE, context=_WIDE)))


def trim(value: Decimal) -> Decimal:
    """Drop the trailing zeros the fixed scale adds, without switching to exponent form."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1), context=_WIDE)
    return value.normalize(context=_WIDE)


class ExactDecimal(TypeDecorator[Decimal]):
    """Numeric(38, 12) on PostgreSQL; on SQLite the decimal's text, because SQLite's
    NUMERIC affinity would turn it into a float."""

    impl = Numeric(PRECISION, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(PRECISION, SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = to_exact(value)
        return format(exact, "f") if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return trim(Decimal(value))


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out. Naive datetimes are refused: a
    naive time in a trading system is a bug waiting for a daylight-saving change."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store naive datetime {value.isoformat()}: give it a timezone")
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # SQLite keeps the text SQLAlchemy writes; a fixed UTC wall time without offset
        # sorts and compares correctly as text.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
