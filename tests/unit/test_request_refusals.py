"""A refused query string or body is told by its request model, found by its name as
web/app.py finds it (web/schemas/refusals.py): the model's own code and one sentence naming
the unknown field and what the route takes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

import web.app  # noqa: F401  (every route's request model, defined as the app defines them)
from web.schemas.refusals import REQUEST_MODELS
from web.schemas.request_bodies import OrderBody

ORDER = {"bot": "Alpha", "side": "buy", "quantity": 1, "type": "market"}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("NoQuery", {"x": "1"}, "invalid_query", "unknown query parameter(s) x; this route takes none"),
    ("BotQuery", {"bots": "a"}, "invalid_query", "unknown query parameter(s) bots; this route takes bot"),
    ("TradesQuery", {"x": "1"}, "invalid_query", "unknown query parameter(s) x; this route takes bot, account, limit"),
    ("SignalsQuery", {"zz": "1"}, "invalid_query", "unknown query parameter(s) zz; this route takes bot, state, limit"),
    (
        "EventsQuery",
        {"before": "1"},
        "invalid_query",
        "unknown query parameter(s) before; this route takes after, limit",
    ),
    (
        "RejectBody",
        {"quantity": 1},
        "invalid_body",
        'reject takes only "reason" (got quantity); send nothing, {} or {"reason": "..."}',
    ),
    ("ResumeBody", {"why": 1}, "invalid_body", "resume takes no fields (got why)"),
    ("HaltBody", {"why": 1}, "invalid_body", 'halt takes only "reason" (got why)'),
    (
        "EditsBody",
        {"colour": "red"},
        "invalid_edits",
        "unknown field(s) colour; edits may set quantity, order_type, limit_price, stop_loss, take_profit "
        "(and accounts: the accounts to approve)",
    ),
    (
        "ReconcileBody",
        {"action": "adopt", "x": 1},
        "invalid_body",
        'reconcile takes "action": "adopt" or "flatten", and optionally "account" (got x)',
    ),
    (
        "OrderBody",
        {**ORDER, "tip": 1},
        "invalid_order",
        "unknown field(s) tip; an order takes bot, side, quantity, type, limit_price, stop_loss, take_profit",
    ),
    ("CancelBody", {"now": True}, "invalid_body", "cancel takes no fields (got now); send nothing or {}"),
]


@pytest.mark.parametrize(("name", "given", "code", "message"), CASES, ids=[case[0] for case in CASES])
def test_an_unknown_field_is_named_with_what_the_route_takes(
    name: str, given: dict[str, Any], code: str, message: str
) -> None:
    model = REQUEST_MODELS[name]
    with pytest.raises(ValidationError) as refused:
        model.model_validate(given)
    assert refused.value.title == name  # the name quart-schema's error carries to web/app.py
    assert (model.error_code, model.describe(refused.value)) == (code, message)


def test_two_problems_are_told_in_one_sentence_unknown_field_first() -> None:
    model = REQUEST_MODELS["TradesQuery"]
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"limit": "0", "x": "1"})
    assert model.describe(refused.value) == (
        "unknown query parameter(s) x; this route takes bot, account, limit; limit must be a whole number from 1 to 500, not '0'"
    )


def test_the_document_refuses_the_blank_bot_names_the_order_parser_refuses() -> None:
    """The order's parser strips the bot's name, so a name of blanks only (any character
    str.isspace() takes, "\\x1f" among them) is refused; the document's pattern must say so,
    or a client generating from it sends names it calls valid and gets 422."""
    pattern = re.compile(OrderBody.model_json_schema()["properties"]["bot"]["pattern"])
    blanks = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    assert "\x1f" in blanks and " " in blanks
    for blank in blanks:
        assert pattern.search(blank * 3) is None, repr(blank)
        with pytest.raises(ValidationError, match="must be a bot's name"):
            OrderBody.model_validate({"bot": blank * 3, "side": "buy", "quantity": 1})
    assert pattern.search(" SA40_RSI_Bot ") is not None
