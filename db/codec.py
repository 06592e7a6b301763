"""JSON for the flat dataclasses kept in JSON columns (Signal, SignalEdits).

Driven by the dataclass's type hints, so a field added to Signal later is stored without
touching this module; decimals travel as strings so no digit is lost to a float.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from trading.domain.records import SignalEdits
from trading.domain.signals import Signal

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

# Never stored: the passphrase is checked at intake and dropped.
_SECRET_FIELDS: dict[type, frozenset[str]] = {Signal: frozenset({"passphrase"})}


# Stored as they are. Matched by exact type first: an alert's fields are mostly these and
# None, and a dict lookup is cheaper than the isinstance chain below.
_PLAIN: frozenset[type] = frozenset({type(None), bool, int, str})


def _encode_value(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is Decimal:
        return str(value)
    if isinstance(value, bool | int | str):  # their subclasses (a StrEnum stays itself, as before)
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON column: {value!r}")


def _decode_value(hint: Any, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"{where}: cannot decode a union of {options}")
        return _decode_value(options[0], raw, where)
    if origin is dict:
        _, value_hint = typing.get_args(hint)
        return {k: _decode_value(value_hint, v, where) for k, v in raw.items()}
    if origin in (list, tuple):
        (item_hint, *_) = typing.get_args(hint)
        items = [_decode_value(item_hint, v, where) for v in raw]
        return tuple(items) if origin is tuple else items
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return hint(raw)
        if hint is Decimal:
            return Decimal(raw)
        if hint is datetime:
            return datetime.fromisoformat(raw)
        if hint in (int, str, bool):
            if not isinstance(raw, hint):
                raise TypeError(f"{where}: expected {hint.__name__}, stored {raw!r}")
            return raw
    raise TypeError(f"{where}: cannot decode {raw!r} as {hint!r}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _stored_fields(cls: type[DataclassInstance]) -> tuple[str, ...]:
    skip = _SECRET_FIELDS.get(cls, frozenset())
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)


def encode(obj: DataclassInstance) -> dict[str, Any]:
    return {name: _encode_value(getattr(obj, name)) for name in _stored_fields(type(obj))}


def decode(cls: type[T], data: dict[str, Any]) -> T:
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {
        name: _decode_value(hints[name], value, f"{cls.__name__}.{name}")
        for name, value in data.items()
        if name in known  # a field since removed from the dataclass is dropped, not fatal
    }
    return cls(**kwargs)


def encode_signal(signal: Signal) -> dict[str, Any]:
    return encode(signal)


def decode_signal(data: dict[str, Any]) -> Signal:
    return decode(Signal, data)


def encode_edits(edits: SignalEdits | None) -> dict[str, Any] | None:
    return None if edits is None else encode(edits)


def decode_edits(data: dict[str, Any] | None) -> SignalEdits | None:
    return None if data is None else decode(SignalEdits, data)
