"""An approver's edits from a JSON body, refused with a message that names the field."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from trading.domain.records import SignalEdits
from trading.domain.values import OrderType

EDIT_FIELDS = ("quantity", "order_type", "limit_price", "stop_loss", "take_profit")
MAX_QUANTITY = 1_000_000
MAX_PRICE = Decimal("1e15")


class BadRequestBody(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> BadRequestBody:
    return BadRequestBody(422, "invalid_edits", message)


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError):
        raise BadRequestBody(400, "not_json", "the body is not JSON; send a JSON object or nothing") from None
    if not isinstance(data, dict):
        raise BadRequestBody(422, "invalid_body", "the body must be a JSON object")
    return data


def _price(name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    # JSON numbers only: the body is parsed with Decimal, so no precision is lost, and one
    # spelling keeps the documented schema exact.
    if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
        raise _invalid(f'"{name}" must be a number')
    if not 0 < value < MAX_PRICE:
        raise _invalid(f'"{name}" is {value}; it must be a price above zero and below {MAX_PRICE:.0E}')
    return value


def parse_edits(data: dict[str, Any]) -> SignalEdits | None:
    unknown = sorted(set(data) - set(EDIT_FIELDS))
    if unknown:
        raise _invalid(f"unknown field(s) {', '.join(unknown)}; edits may set {', '.join(EDIT_FIELDS)}")
    if not any(data.get(name) is not None for name in EDIT_FIELDS):
        return None
    quantity = data.get("quantity")
    if quantity is not None:
        if isinstance(quantity, bool) or not isinstance(quantity, Decimal) or quantity != quantity.to_integral_value():
            raise _invalid('"quantity" must be a whole number of contracts')
        if not 1 <= quantity <= MAX_QUANTITY:
            raise _invalid(f'"quantity" is {quantity}; it must be from 1 to {MAX_QUANTITY} contracts')
        quantity = int(quantity)
    order_type = data.get("order_type")
    if order_type is not None:
        if not isinstance(order_type, str) or order_type.lower() not in ("market", "limit"):
            raise _invalid('"order_type" must be "market" or "limit"')
        order_type = OrderType(order_type.lower())
    limit_price = _price("limit_price", data.get("limit_price"))
    if order_type is OrderType.LIMIT and limit_price is None:
        raise _invalid('"order_type" "limit" needs a "limit_price"')
    if limit_price is not None and order_type is not OrderType.LIMIT:
        raise _invalid('"limit_price" goes with "order_type": "limit"')
    return SignalEdits(
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        stop_loss=_price("stop_loss", data.get("stop_loss")),
        take_profit=_price("take_profit", data.get("take_profit")),
    )
