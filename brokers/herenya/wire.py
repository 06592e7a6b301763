"""The Herenya wire format, client side: our order request to JSON bytes, answers to trading/ types.

Every parse error names the field, so a broker that changes its answers is diagnosed
from the message alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from brokers.errors import BrokerProtocolError
from trading.domain import quantities
from trading.domain.market import (
    Account,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerPosition,
    Instrument,
    OrderRequest,
    Quote,
)
from trading.domain.values import OrderSide, OrderType

BROKER = "Herenya"


def _bad(what: str, field: str, value: Any) -> BrokerProtocolError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return BrokerProtocolError("BAD_RESPONSE", f"{what}: field {field!r} is {shown}", broker=BROKER, ambiguous=True)


def _obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BrokerProtocolError(
            "BAD_RESPONSE", f"{what}: expected a JSON object, got {type(data).__name__}", broker=BROKER, ambiguous=True
        )
    return data


def _str(d: dict[str, Any], field: str, what: str) -> str:
    v = d.get(field)
    if not isinstance(v, str):
        raise _bad(what, field, v)
    return v


def _int(d: dict[str, Any], field: str, what: str) -> int:
    v = d.get(field)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(what, field, v)
    return v


def _contracts(d: dict[str, Any], field: str, what: str) -> Decimal:
    """Herenya counts whole contracts: an integer on the wire, a Decimal in the domain."""
    return Decimal(_int(d, field, what))


def _dec(d: dict[str, Any], field: str, what: str, *, optional: bool = False) -> Decimal | None:
    v = d.get(field)
    if v is None and optional:
        return None
    # Strings per the contract; numbers are accepted (via their text, never float arithmetic)
    # so a server that sends them is still readable.
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise _bad(what, field, v)
    try:
        out = Decimal(v if isinstance(v, str) else repr(v))
    except InvalidOperation:
        raise _bad(what, field, v) from None
    if not out.is_finite():
        raise _bad(what, field, v)
    return out


def _req_dec(d: dict[str, Any], field: str, what: str) -> Decimal:
    out = _dec(d, field, what)
    assert out is not None
    return out


def _time(d: dict[str, Any], field: str, what: str, *, optional: bool = False) -> datetime | None:
    v = d.get(field)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(what, field, v)
    return ms_to_datetime(v)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


# --------------------------------------------------------------------------- requests


def fraction_refusal(request: OrderRequest) -> str | None:
    """Why Herenya cannot take the order's quantity (None: it can): it trades whole contracts."""
    return quantities.whole_contracts_refusal(request.quantity, request.symbol, "Herenya")


def whole_contracts(request: OrderRequest) -> int:
    if (problem := fraction_refusal(request)) is not None:
        raise ValueError(problem)  # the client refuses it before encoding (HerenyaClient.place_order)
    return int(request.quantity)


def encode_order(request: OrderRequest) -> bytes:
    """The exact bytes sent (and signed) for a new order."""
    body: dict[str, Any] = {
        "client_order_id": request.client_order_id,
        "symbol": request.symbol,
        "side": request.side.value.upper(),
        "type": request.type.value.upper(),
        "quantity": whole_contracts(request),  # an integer on the wire
        "limit_price": None if request.limit_price is None else format(request.limit_price, "f"),
        "reduce_only": request.reduce_only,
    }
    if request.time_in_force is not None:
        body["time_in_force"] = request.time_in_force.upper()
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------- answers


def parse_server_time(data: Any) -> int:
    return _int(_obj(data, "time"), "server_time", "time")


def parse_instrument(data: Any) -> Instrument:
    d = _obj(data, "instrument")
    status = _str(d, "trading_status", "instrument")
    if status not in ("OPEN", "CLOSED"):
        raise _bad("instrument", "trading_status", status)
    description = d.get("description")
    return Instrument(
        symbol=_str(d, "symbol", "instrument"),
        min_quantity=_contracts(d, "min_quantity", "instrument"),
        max_quantity=_contracts(d, "max_quantity", "instrument"),
        quantity_step=_contracts(d, "quantity_step", "instrument"),
        tick_size=_req_dec(d, "tick_size", "instrument"),
        contract_multiplier=_req_dec(d, "contract_multiplier", "instrument"),
        currency=_str(d, "currency", "instrument"),
        description=description if isinstance(description, str) else "",
        trading_open=status == "OPEN",
    )


def parse_quote(data: Any) -> Quote:
    d = _obj(data, "quote")
    t = _time(d, "time", "quote")
    assert t is not None
    return Quote(
        symbol=_str(d, "symbol", "quote"),
        bid=_req_dec(d, "bid", "quote"),
        ask=_req_dec(d, "ask", "quote"),
        last=_req_dec(d, "last", "quote"),
        time=t,
    )


def parse_account(data: Any) -> Account:
    d = _obj(data, "account")
    return Account(
        account_id=_str(d, "account_id", "account"),
        currency=_str(d, "currency", "account"),
        balance=_req_dec(d, "balance", "account"),
        equity=_req_dec(d, "equity", "account"),
        margin_used=_req_dec(d, "margin_used", "account"),
        margin_available=_req_dec(d, "margin_available", "account"),
    )


def parse_positions(data: Any) -> list[BrokerPosition]:
    d = _obj(data, "positions")
    items = d.get("positions")
    if not isinstance(items, list):
        raise _bad("positions", "positions", items)
    out = []
    for item in items:
        p = _obj(item, "position")
        out.append(
            BrokerPosition(
                symbol=_str(p, "symbol", "position"),
                quantity=_contracts(p, "quantity", "position"),
                average_price=_req_dec(p, "average_price", "position"),
                unrealized_pnl=_req_dec(p, "unrealized_pnl", "position"),
            )
        )
    return out


_SIDES = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}
_TYPES = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT}


def parse_order(data: Any) -> BrokerOrder:
    d = _obj(data, "order")
    side = _SIDES.get(d.get("side"))  # type: ignore[arg-type]
    if side is None:
        raise _bad("order", "side", d.get("side"))
    type_ = _TYPES.get(d.get("type"))  # type: ignore[arg-type]
    if type_ is None:
        raise _bad("order", "type", d.get("type"))
    raw_status = d.get("status")
    try:
        status = BrokerOrderStatus(raw_status if isinstance(raw_status, str) else "")
    except ValueError:
        raise _bad("order", "status", d.get("status")) from None
    reject_reason = d.get("reject_reason")
    tif = d.get("time_in_force")
    reduce_only = d.get("reduce_only", False)
    if not isinstance(reduce_only, bool):
        raise _bad("order", "reduce_only", reduce_only)
    return BrokerOrder(
        order_id=_str(d, "order_id", "order"),
        client_order_id=_str(d, "client_order_id", "order"),
        symbol=_str(d, "symbol", "order"),
        side=side,
        type=type_,
        quantity=_contracts(d, "quantity", "order"),
        status=status,
        filled_quantity=_contracts(d, "filled_quantity", "order"),
        average_fill_price=_dec(d, "average_fill_price", "order", optional=True),
        limit_price=_dec(d, "limit_price", "order", optional=True),
        time_in_force=tif if isinstance(tif, str) else ("IOC" if type_ is OrderType.MARKET else "GTC"),
        reduce_only=reduce_only,
        reject_reason=reject_reason if isinstance(reject_reason, str) else None,
        created_at=_time(d, "created_at", "order", optional=True),
        updated_at=_time(d, "updated_at", "order", optional=True),
    )


def parse_order_list(data: Any) -> list[BrokerOrder]:
    d = _obj(data, "orders")
    items = d.get("orders")
    if not isinstance(items, list):
        raise _bad("orders", "orders", items)
    return [parse_order(item) for item in items]
