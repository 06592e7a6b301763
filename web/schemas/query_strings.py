"""The JSON API's query strings: what a GET takes after "?". Numbers are ASCII digits; a
parameter the route does not take is refused by name."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import BeforeValidator, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from trading.domain.signals import SignalState
from web.schemas.refusals import RequestModel, problem, shown

MAX_LIMIT = 500
MAX_AFTER = 10**17

# ASCII only: str.isdigit() and int() also take "²", "②" and "٣", which is how a Unicode
# digit once reached int() and answered 500.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def _whole_number(name: str, value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value) and low <= int(value) <= high:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise problem(f"{name} must be {what}, not {shown(value)}")


class Query(RequestModel):
    error_code: ClassVar[str] = "invalid_query"

    @classmethod
    def unknown(cls, names: str) -> str:
        fields = ", ".join(cls.model_fields)
        takes = f"this route takes {fields}" if fields else "this route takes none"
        return f"unknown query parameter(s) {names}; {takes}"


class NoQuery(Query):
    pass


class BotQuery(Query):
    # SkipJsonSchema: a query parameter is absent, never null; a null in the document would
    # have clients (and schemathesis) send the text "null".
    bot: str | SkipJsonSchema[None] = Field(default=None, description="only this bot (its bot_name)")

    @field_validator("bot", mode="before")
    @classmethod
    def _bot(cls, value: object) -> object:
        return value or None  # ?bot= means every bot, as it always has


def _limit(value: object) -> int:
    return _whole_number("limit", value, 1, MAX_LIMIT, f"a whole number from 1 to {MAX_LIMIT}")


Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT), BeforeValidator(_limit)]


class PositionsQuery(BotQuery):
    account: str | SkipJsonSchema[None] = Field(default=None, description="only positions held on this account")

    @field_validator("account", mode="before")
    @classmethod
    def _account(cls, value: object) -> object:
        return value or None


class TradesQuery(PositionsQuery):
    limit: Limit = 20


class SignalsQuery(BotQuery):
    state: SignalState | SkipJsonSchema[None] = None
    limit: Limit = 100

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value in SignalState.__members__.values()):
            return value
        allowed = ", ".join(s.value for s in SignalState)
        raise problem(f"state must be one of {allowed}, not {shown(value)}")


class EventsQuery(Query):
    after: int = Field(default=0, ge=0, le=MAX_AFTER, description="the last seq seen; 0 for the oldest kept")
    limit: Limit = 200

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: object) -> int:
        return _whole_number("after", value, 0, MAX_AFTER, "a whole number, the last seq seen")
