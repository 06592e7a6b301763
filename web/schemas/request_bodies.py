"""The JSON API's request bodies: what a POST takes. An approver's edits and a free-form
order are read by the domain's one parser of each (trading/domain/inputs.py), as on Discord
and the web desk; a field the route does not take is refused by name. At the end, the
webhook's body and signature headers, for the document only (the intake reads them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from trading.domain import quantities
from trading.domain.inputs import (
    FIELDS,
    JSON_EDITS,
    JSON_ORDER,
    MAX_BOT_NAME,
    MAX_DECIMALS,
    MAX_PRICE,
    InputError,
    parse_edits,
    parse_order,
)
from trading.domain.manual import OrderTicket
from trading.domain.records import SignalEdits
from trading.domain.values import OrderSide, OrderType
from trading.domain.wording import REASON_LIMIT
from web.schemas.refusals import RequestModel, problem, shown


def _not_blank() -> str:
    """A regex class of one character that str.strip() keeps. Each blank is named (as a run
    of code points): JavaScript's and Python's \\s disagree (U+001C-U+001F, U+0085), and a
    client may read the document with either. None is above U+3000."""
    blanks = [c for c in range(0x3001) if chr(c).isspace()]
    runs: list[list[int]] = []
    for c in blanks:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "[^" + "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs) + "]"


NOT_BLANK = _not_blank()
MAX_REASON = REASON_LIMIT  # a reason typed by a person (a halt's, a reject's)

# JSON numbers only, with no float on the way (web/json_request.py reads fractions as Decimal):
# one spelling keeps the documented schema exact.
_PRICE_SCHEMA: JsonDict = {
    "type": "number",
    "exclusiveMinimum": 0,
    "exclusiveMaximum": int(MAX_PRICE),
    "multipleOf": float(Decimal(1).scaleb(-MAX_DECIMALS)),
}
Price = Annotated[Decimal, WithJsonSchema(_PRICE_SCHEMA)]
# Exact, as the domain's parser gives it (0.01 on an exchange account; whole contracts on
# Herenya and paper, checked where the account is known).
_QUANTITY_SCHEMA: JsonDict = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": quantities.MAX_QUANTITY,
    "multipleOf": float(Decimal(1).scaleb(-quantities.MAX_DECIMALS)),
}
Quantity = Annotated[Decimal, Field(gt=0, le=quantities.MAX_QUANTITY), WithJsonSchema(_QUANTITY_SCHEMA)]

T = TypeVar("T")


def _by_the_domain(parse: Callable[..., T], *values: object) -> T:
    """The domain's parser is the rule; its refusal becomes this body's."""
    try:
        return parse(*values)
    except InputError as e:
        raise problem(str(e)) from None


class Body(RequestModel):
    error_code: ClassVar[str] = "invalid_body"
    route: ClassVar[str]
    takes: ClassVar[str] = "no fields"
    hint: ClassVar[str] = ""

    @classmethod
    def unknown(cls, names: str) -> str:
        return f"{cls.route} takes {cls.takes} (got {names}){cls.hint}"


class ResumeBody(Body):
    route: ClassVar[str] = "resume"


class ReasonBody(Body):
    """A body of an optional "reason": a person's words, kept in the audit (the Desk strips
    control characters)."""

    takes: ClassVar[str] = 'only "reason"'

    reason: Annotated[str, Field(max_length=MAX_REASON)] | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and len(value) <= MAX_REASON):
            return value
        raise problem(f'"reason" must be text of at most {MAX_REASON} characters')


class HaltBody(ReasonBody):
    route: ClassVar[str] = "halt"


class RejectBody(ReasonBody):
    route: ClassVar[str] = "reject"
    hint: ClassVar[str] = '; send nothing, {} or {"reason": "..."}'


def _limit_price_rules(type_field: str) -> JsonDict:
    """A limit order needs its price, and a limit price only goes with a limit order
    (docs/inputs.md), as the document says it."""
    is_limit: JsonDict = {"properties": {type_field: {"const": "limit"}}, "required": [type_field]}
    has_price: JsonDict = {"properties": {"limit_price": _PRICE_SCHEMA}, "required": ["limit_price"]}
    return {"allOf": [{"if": is_limit, "then": has_price}, {"if": has_price, "then": is_limit}]}


class EditsBody(Body):
    """Edits to apply before approving; absent or {} for none."""

    model_config = ConfigDict(json_schema_extra=_limit_price_rules("order_type"))
    error_code: ClassVar[str] = "invalid_edits"
    route: ClassVar[str] = "approve"
    takes: ClassVar[str] = "quantity, order_type, limit_price, stop_loss, take_profit"

    quantity: Quantity | None = None
    order_type: OrderType | None = None
    limit_price: Price | None = None
    stop_loss: Price | None = None
    take_profit: Price | None = None
    # A bot on several accounts: approve the alert's legs on these accounts only; its other
    # legs end rejected by the approver.
    # The document says minItems itself: pydantic leaves min_length on an optional field out.
    accounts: list[Annotated[str, Field(min_length=1, max_length=32)]] | SkipJsonSchema[None] = Field(
        default=None,
        min_length=1,
        description='approve only these accounts\' legs, e.g. ["main"]',
        json_schema_extra={"minItems": 1},
    )

    @classmethod
    def unknown(cls, names: str) -> str:
        return f"unknown field(s) {names}; edits may set {cls.takes} (and accounts: the accounts to approve)"

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: object) -> object:
        if not isinstance(data, dict) or all(data.get(field) is None for field in FIELDS):
            return data  # no edits: approve as the card stands (unknown fields are refused by name)
        edits = _by_the_domain(parse_edits, JSON_EDITS, *(data.get(field) for field in FIELDS))
        return data | asdict(edits)

    def edits(self) -> SignalEdits | None:
        if all(value is None for value in self.model_dump(exclude={"accounts"}).values()):
            return None
        return SignalEdits(
            quantity=self.quantity,
            order_type=self.order_type,
            limit_price=self.limit_price,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
        )


class ReconcileBody(Body):
    """How to repair the bot's position mismatch.

    adopt: the bot's position takes the broker's side of the difference (one entry at the
    broker's average price), so that the sum over the symbol's bots equals the broker's net.
    flatten: the broker's net on the symbol is closed through the normal order path (one
    close signal per bot with a position there, after booking the difference) and every bot
    on it is set flat. Both clear the symbol's bots of 'needs attention'. A bot on several
    accounts is repaired on `account` (unnamed: the one account where the two differ)."""

    route: ClassVar[str] = "reconcile"
    takes: ClassVar[str] = '"action": "adopt" or "flatten", and optionally "account"'

    action: Literal["adopt", "flatten"]
    account: Annotated[str, Field(min_length=1, max_length=32)] | SkipJsonSchema[None] = None

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: object) -> object:
        if value in ("adopt", "flatten"):
            return value
        raise problem(f'"action" is {shown(value)}; it must be "adopt" or "flatten"')


ORDER_FIELDS = ("bot", "side", "quantity", "type", "limit_price", "stop_loss", "take_profit")


class OrderBody(Body):
    """A free-form order: buy is a long entry, sell a short one, planned by the bot's
    engine against its position (an opposite side reverses, as an alert would)."""

    model_config = ConfigDict(json_schema_extra=_limit_price_rules("type"))
    error_code: ClassVar[str] = "invalid_order"
    route: ClassVar[str] = "orders"
    takes: ClassVar[str] = "bot, side, quantity, type, limit_price, stop_loss, take_profit"

    # A name of blanks only is refused by the order's parser (trading/domain/inputs.py, which
    # strips it): the document says so with the pattern, and only says it, so that the one
    # rule stays the parser's.
    bot: Annotated[str, Field(min_length=1, max_length=MAX_BOT_NAME, json_schema_extra={"pattern": NOT_BLANK})]
    side: OrderSide
    quantity: Quantity
    type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    stop_loss: Price | None = None
    take_profit: Price | None = None

    @classmethod
    def unknown(cls, names: str) -> str:
        return f"unknown field(s) {names}; an order takes {cls.takes}"

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        ticket = _by_the_domain(parse_order, JSON_ORDER, *(data.get(field) for field in ORDER_FIELDS))
        return data | {
            "bot": ticket.bot,
            "side": ticket.side,
            "quantity": ticket.quantity,
            "type": ticket.order_type,
            "limit_price": ticket.limit_price,
            "stop_loss": ticket.stop_loss,
            "take_profit": ticket.take_profit,
        }

    def ticket(self) -> OrderTicket:
        return OrderTicket(
            bot=self.bot,
            side=self.side,
            quantity=self.quantity,
            order_type=self.type,
            limit_price=self.limit_price,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
        )


class CancelBody(Body):
    route: ClassVar[str] = "cancel"
    hint: ClassVar[str] = "; send nothing or {}"


# ---- the webhook: documented only (the intake reads the body; web/webhook.py the headers)


class AlertDoc(BaseModel):
    """One of the three alert shapes in the README (RSI action, order + message, strategy placeholders)."""

    model_config = ConfigDict(extra="allow")

    action: str
    price: float | str
    time: str | float | SkipJsonSchema[None] = Field(default=None, description="ISO-8601 or epoch; use {{timenow}}")
    ticker: str | SkipJsonSchema[None] = None
    passphrase: str | SkipJsonSchema[None] = None
    id: str | SkipJsonSchema[None] = None


class SignatureHeaders(BaseModel):
    x_signature: str | SkipJsonSchema[None] = Field(
        default=None,
        description='for bots with a signing secret: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>',
    )
    x_signature_timestamp: str | SkipJsonSchema[None] = Field(
        default=None, description="unix seconds, within 300 s of the server's clock"
    )
