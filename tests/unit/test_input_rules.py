"""The rules for what a person gives the desk by hand (trading/domain/inputs.py, docs/inputs.md),
each stated once and run through every face that takes it: an approver's edit through
Discord's Edit modal, the web desk's Edit form and the API's approve body; a free-form order
through Discord's /order and POST /api/orders."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from bot.discord import inputs as discord_inputs
from trading.domain.inputs import FIELDS, JSON_EDITS, JSON_ORDER, TYPED, Face, InputError
from trading.domain.manual import OrderTicket
from trading.domain.records import SignalEdits
from trading.domain.values import OrderSide, OrderType
from web import pages
from web.schemas.request_bodies import ORDER_FIELDS, EditsBody, OrderBody


def _text(value: object) -> str:
    return "" if value is None else str(value)


def modal_edit(given: dict[str, Any]) -> SignalEdits | None:
    return discord_inputs.parse_edits(*(_text(given.get(field)) for field in FIELDS))


def form_edit(given: dict[str, Any]) -> SignalEdits | None:
    return pages.parse_edits({field: _text(value) for field, value in given.items()})


def api_edit(given: dict[str, Any]) -> SignalEdits | None:
    try:
        return EditsBody.model_validate(given).edits()
    except ValidationError as e:
        raise InputError(EditsBody.describe(e)) from None


def discord_order(given: dict[str, Any]) -> OrderTicket:
    return discord_inputs.parse_order(
        given["bot"],
        given["side"],
        given["quantity"],
        given.get("type", "market"),
        *(None if given.get(field) is None else str(given[field]) for field in ORDER_FIELDS[4:]),
    )


def api_order(given: dict[str, Any]) -> OrderTicket:
    try:
        return OrderBody.model_validate(given).ticket()
    except ValidationError as e:
        raise InputError(OrderBody.describe(e)) from None


EDIT_FACES: list[tuple[Callable[[dict[str, Any]], SignalEdits | None], Face]] = [
    (modal_edit, TYPED),
    (form_edit, TYPED),
    (api_edit, JSON_EDITS),
]
ORDER_FACES: list[tuple[Callable[[dict[str, Any]], OrderTicket], Face]] = [
    (discord_order, TYPED),
    (api_order, JSON_ORDER),
]
EDIT_IDS = ["discord-modal", "web-form", "api"]
ORDER_IDS = ["discord-order", "api-order"]


def _refused(parse: Callable[[dict[str, Any]], object], given: dict[str, Any]) -> str:
    with pytest.raises(InputError) as refused:
        parse(given)
    return str(refused.value)


def _said(face: Face, rule: str) -> str:
    return rule.format(**{field: face.name(field) for field in (*FIELDS, "bot", "side")}).lower()


QUANTITY = "{quantity} must be a number above 0 and at most 1,000,000 with at most 8 decimals"
PRICE = "must be a positive number below 1e15 with at most 12 decimals"
EDIT_RULES = [
    ({"quantity": 0}, QUANTITY),
    ({"quantity": 1_000_001}, QUANTITY),
    ({"quantity": Decimal("1.000000001")}, QUANTITY),
    ({"order_type": "stop"}, "{order_type} must be 'market' or 'limit'"),
    ({"order_type": "limit"}, "a limit order needs a {limit_price}"),
    # Refused, not dropped: a market order (or no order type) takes no limit price.
    ({"order_type": "market", "limit_price": 53000}, "a {limit_price} goes only with {order_type} 'limit'"),
    ({"limit_price": 53000}, "a {limit_price} goes only with {order_type} 'limit'"),
    ({"stop_loss": -1}, "{stop_loss} " + PRICE),
    ({"take_profit": Decimal("1e15")}, "{take_profit} " + PRICE),
    ({"order_type": "limit", "limit_price": Decimal("1.0000000000001")}, "{limit_price} " + PRICE),
    ({"take_profit": "lots"}, "{take_profit} must be a number"),
    ({"quantity": 0, "stop_loss": "cheap"}, QUANTITY + ", not '0'; {stop_loss} must be a number, not 'cheap'"),
]


@pytest.mark.parametrize(("given", "rule"), EDIT_RULES)
@pytest.mark.parametrize(("parse", "face"), EDIT_FACES, ids=EDIT_IDS)
def test_an_edit_is_refused_by_the_same_rule_on_every_face(
    parse: Callable[[dict[str, Any]], SignalEdits | None], face: Face, given: dict[str, Any], rule: str
) -> None:
    assert _said(face, rule) in _refused(parse, given).lower()


@pytest.mark.parametrize(("parse", "face"), EDIT_FACES, ids=EDIT_IDS)
def test_an_edit_within_the_rules_means_the_same_on_every_face(
    parse: Callable[[dict[str, Any]], SignalEdits | None], face: Face
) -> None:
    given = {"quantity": 2, "order_type": "LIMIT", "limit_price": Decimal("53200.5"), "stop_loss": Decimal(52600)}
    assert parse(given) == SignalEdits(
        quantity=2, order_type=OrderType.LIMIT, limit_price=Decimal("53200.5"), stop_loss=Decimal(52600)
    )


@pytest.mark.parametrize(("parse", "face"), EDIT_FACES, ids=EDIT_IDS)
def test_a_fractional_quantity_is_taken_exactly_on_every_face(
    parse: Callable[[dict[str, Any]], SignalEdits | None], face: Face
) -> None:
    # 0.02 BTC on an exchange account: the rule is one; whole contracts are checked where the account is known.
    given = "0.020" if face.text else Decimal("0.020")
    edits = parse({"quantity": given})
    assert edits == SignalEdits(quantity=Decimal("0.02")) and edits is not None and str(edits.quantity) == "0.02"


@pytest.mark.parametrize(
    "given",
    [
        {"quantity": "7" * 5_000},
        {"quantity": "١٢"},
        {"order_type": "limit", "limit_price": "1E+1000000"},
        {"stop_loss": "9" * 60_000},
        {"take_profit": "1e999999999"},
        {"take_profit": "0." + "0" * 5_000 + "1"},
    ],
)
@pytest.mark.parametrize(("parse", "face"), EDIT_FACES[:2], ids=EDIT_IDS[:2])
def test_an_enormous_typed_value_is_refused_in_a_short_message(
    parse: Callable[[dict[str, Any]], SignalEdits | None], face: Face, given: dict[str, Any]
) -> None:
    # Issue 31, finding 7: bounded before any arithmetic, quoted back by a short prefix.
    assert len(_refused(parse, given)) < 200


@pytest.mark.parametrize(
    "given", [{"quantity": 10**5000}, {"stop_loss": Decimal("1e999999999")}, {"take_profit": Decimal("1e-5000")}]
)
def test_an_enormous_json_number_is_refused_in_a_short_message(given: dict[str, Any]) -> None:
    assert len(_refused(api_edit, given)) < 200


def test_typed_text_may_carry_thousands_separators() -> None:
    for parse in (modal_edit, form_edit):
        assert parse({"stop_loss": " 53,200.5 "}) == SignalEdits(stop_loss=Decimal("53200.5"))


def test_json_numbers_must_be_numbers_not_strings() -> None:
    assert "\"stop_loss\" must be a number, not '53000'" in _refused(api_edit, {"stop_loss": "53000"})
    assert '"quantity" must be a number above 0' in _refused(api_edit, {"quantity": "2"})
    assert '"quantity" must be a number above 0' in _refused(api_edit, {"quantity": True})


def test_an_edit_that_changes_nothing_is_refused_where_it_is_an_edit() -> None:
    # The modal and the form are edits; the API's approve body is optional ({}: approve as is).
    for parse in (modal_edit, form_edit):
        assert "nothing to change" in _refused(parse, {}).lower()
    assert api_edit({}) is None


ORDER = {"bot": "SA40_RSI_Bot", "side": "buy", "quantity": 1}
ORDER_RULES = [
    ({"quantity": 0}, QUANTITY),
    ({"side": "hold"}, "{side} must be 'buy' or 'sell'"),
    ({"type": "limit"}, "a limit order needs a {limit_price}"),
    ({"limit_price": 53000}, "a {limit_price} goes only with {order_type} 'limit'"),
    ({"type": "market", "limit_price": 53000}, "a {limit_price} goes only with {order_type} 'limit'"),
    ({"stop_loss": 0}, "{stop_loss} " + PRICE),
    ({"take_profit": "lots"}, "{take_profit} must be a number"),
]


@pytest.mark.parametrize(("over", "rule"), ORDER_RULES)
@pytest.mark.parametrize(("parse", "face"), ORDER_FACES, ids=ORDER_IDS)
def test_an_order_is_refused_by_the_same_rule_on_every_face(
    parse: Callable[[dict[str, Any]], OrderTicket], face: Face, over: dict[str, Any], rule: str
) -> None:
    assert _said(face, rule) in _refused(parse, ORDER | over).lower()


@pytest.mark.parametrize(("parse", "face"), ORDER_FACES, ids=ORDER_IDS)
def test_an_order_within_the_rules_means_the_same_on_every_face(
    parse: Callable[[dict[str, Any]], OrderTicket], face: Face
) -> None:
    given = ORDER | {"side": "sell", "type": "limit", "limit_price": Decimal("53200.5"), "stop_loss": Decimal(53500)}
    assert parse(given) == OrderTicket(
        bot="SA40_RSI_Bot",
        side=OrderSide.SELL,
        quantity=1,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("53200.5"),
        stop_loss=Decimal(53500),
    )
    assert parse(ORDER) == OrderTicket(bot="SA40_RSI_Bot", side=OrderSide.BUY, quantity=1)


def test_an_api_order_names_what_is_missing() -> None:
    message = _refused(api_order, {})
    assert '"bot" must be a bot\'s name' in message and '"side" must be' in message
    assert '"quantity" is required' in message


def test_the_discord_reply_is_a_sentence() -> None:
    assert _refused(modal_edit, {"stop_loss": "abc"}) == "Stop must be a number, not 'abc'."


@pytest.mark.parametrize(("parse", "face"), ORDER_FACES, ids=ORDER_IDS)
def test_an_order_of_a_fraction_is_taken_exactly_on_every_face(
    parse: Callable[[dict[str, Any]], OrderTicket], face: Face
) -> None:
    # /order's quantity is text on Discord, as the Edit modal's box: 0.01 BTC on an exchange account.
    ticket = parse(ORDER | {"quantity": "0.01" if face.text else Decimal("0.01")})
    assert ticket.quantity == Decimal("0.01") and str(ticket.quantity) == "0.01"
