"""The OpenAPI 3.1 document of every route, written by hand to match web/ exactly.

tests/integration/test_openapi.py runs schemathesis against it, checking the answers
against these schemas, so a route and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from trading.domain.signals import SignalState

Schema = dict[str, Any]


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_DEC = {"type": "string", "description": "a decimal number, as a string to keep its precision"}
_TIME = {"type": "string", "format": "date-time"}
_PRICE_IN = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1e15}
_N_STR, _N_INT, _N_DEC, _N_TIME = _nullable(_STR), _nullable(_INT), _nullable(_DEC), _nullable(_TIME)


def _obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(_ref("Error"), description)


_SCHEMAS: dict[str, Schema] = {
    "Alert": {
        "type": "object",
        "description": "one of the three shapes in DESIGN.md (RSI action, order + message, strategy placeholders)",
        "required": ["action", "price"],
        "properties": {
            "action": _STR,
            "price": {"type": ["number", "string"]},
            "time": {"type": ["string", "number"], "description": "ISO-8601 or epoch; use {{timenow}}"},
            "ticker": _STR,
            "passphrase": _STR,
            "id": _STR,
        },
    },
    "Error": _obj({"error": _obj({"code": _STR, "message": _STR})}),
    "Accepted": _obj(
        {
            "status": {"type": "string", "enum": ["accepted", "duplicate"]},
            "signal_id": _INT,
            "mode": {"type": "string", "enum": ["auto", "approve"]},
        },
        required=["status", "signal_id"],
    ),
    "Bot": _obj(
        {
            "bot_name": _STR,
            "symbol": _STR,
            "tradingview_ticker": _STR,
            "broker_account": {"type": "string", "enum": ["Herenya", "Paper"]},
            "mode": {"type": "string", "enum": ["auto", "approve"]},
            "is_active": _BOOL,
            "paused": _BOOL,
            "paused_reason": _N_STR,
            "needs_attention": _BOOL,
            "attention_reason": _N_STR,
            "webhook_key_hint": _STR,
            "requires_passphrase": _BOOL,
            "requires_signature": _BOOL,
            "strategy_type": _STR,
            "timeframe": _STR,
            "base_position_size": _INT,
            "max_positions": _INT,
            "allow_pyramiding": _BOOL,
            "exit_on_opposite_signal": _BOOL,
            "stop_loss_pct": _N_DEC,
            "take_profit_pct": _N_DEC,
            "approval_timeout_minutes": _INT,
            "max_signal_age_seconds": _INT,
            "max_slippage_pct": _N_DEC,
            "max_daily_loss": _N_DEC,
        }
    ),
    "Entry": _obj({"quantity": _INT, "price": _DEC, "time": _TIME}),
    "Position": _obj(
        {
            "bot_name": _STR,
            "symbol": _STR,
            "side": _nullable({"type": "string", "enum": ["long", "short"]}),
            "quantity": _INT,
            "average_price": _N_DEC,
            "entries": {"type": "array", "items": _ref("Entry")},
            "max_positions": _INT,
            "stop_loss": _N_DEC,
            "take_profit": _N_DEC,
            "last_price": _N_DEC,
            "unrealized_pnl": _N_DEC,
            "realized_pnl": _DEC,
            "currency": _STR,
        }
    ),
    "Trade": _obj(
        {
            "id": _N_INT,
            "bot_name": _STR,
            "symbol": _STR,
            "side": {"type": "string", "enum": ["long", "short"]},
            "quantity": _INT,
            "entry_price": _DEC,
            "exit_price": _DEC,
            "realized_pnl": _DEC,
            "opened_at": _N_TIME,
            "closed_at": _TIME,
            "position_closed": _BOOL,
            "signal_id": _N_INT,
            "client_order_id": _N_STR,
        }
    ),
    "Edits": _obj(
        {
            "quantity": _N_INT,
            "order_type": _nullable({"type": "string", "enum": ["market", "limit"]}),
            "limit_price": _N_DEC,
            "stop_loss": _N_DEC,
            "take_profit": _N_DEC,
        }
    ),
    "EditsRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "quantity": _nullable({"type": "integer", "minimum": 1, "maximum": 1_000_000}),
            "order_type": _nullable({"type": "string", "enum": ["market", "limit"]}),
            "limit_price": _nullable(_PRICE_IN),
            "stop_loss": _nullable(_PRICE_IN),
            "take_profit": _nullable(_PRICE_IN),
        },
        # A limit order needs its price, and a limit price only goes with a limit order.
        "allOf": [
            {
                "if": {"properties": {"order_type": {"const": "limit"}}, "required": ["order_type"]},
                "then": {"properties": {"limit_price": _PRICE_IN}, "required": ["limit_price"]},
            },
            {
                "if": {"properties": {"limit_price": _PRICE_IN}, "required": ["limit_price"]},
                "then": {"properties": {"order_type": {"const": "limit"}}, "required": ["order_type"]},
            },
        ],
    },
    "StateChange": _obj({"state": _STR, "at": _TIME, "cause": _STR, "reason": _N_STR}),
    "Signal": _obj(
        {
            "id": _INT,
            "bot_name": _STR,
            "action": _STR,
            "state": {"type": "string", "enum": [s.value for s in SignalState]},
            "created_at": _TIME,
            "updated_at": _TIME,
            "reason": _N_STR,
            "price": _DEC,
            "quantity": _N_INT,
            "stop_loss": _N_DEC,
            "take_profit": _N_DEC,
            "order_type": {"type": "string", "enum": ["market", "limit"]},
            "alert_time": _N_TIME,
            "ticker": _N_STR,
            "alert_id": _N_STR,
            "message": _N_STR,
            "edits": _nullable(_ref("Edits")),
            "history": {"type": "array", "items": _ref("StateChange")},
        }
    ),
    "Order": _obj(
        {
            "client_order_id": _STR,
            "leg_index": _INT,
            "leg_kind": _STR,
            "position_side": {"type": "string", "enum": ["long", "short"]},
            "symbol": _STR,
            "side": {"type": "string", "enum": ["buy", "sell"]},
            "quantity": _INT,
            "type": {"type": "string", "enum": ["market", "limit"]},
            "limit_price": _N_DEC,
            "reduce_only": _BOOL,
            "status": _STR,
            "broker_order_id": _N_STR,
            "filled_quantity": _INT,
            "average_fill_price": _N_DEC,
            "error": _N_STR,
            "created_at": _N_TIME,
            "updated_at": _N_TIME,
        }
    ),
    "Approval": _obj(
        {
            "requested_at": _TIME,
            "expires_at": _TIME,
            "decision": _nullable({"type": "string", "enum": ["approved", "rejected", "expired"]}),
            "decided_by": _N_STR,
            "decided_at": _N_TIME,
            "edits": _nullable(_ref("Edits")),
            "edited_by": _N_STR,
        }
    ),
    "ActionResult": _obj(
        {"ok": _BOOL, "code": _STR, "message": _STR, "signal": _nullable(_ref("Signal"))},
    ),
    "Health": _obj(
        {
            "status": {"type": "string", "enum": ["ok", "down"]},
            "components": {"type": "object", "additionalProperties": _obj({"ok": _BOOL, "detail": _STR})},
            "down": {"type": "array", "items": _STR},
        }
    ),
}

_AUTH_ERRORS = {
    "401": _error("missing or wrong bearer token"),
    "503": _error("the API is off: SIGNALDESK_API_TOKEN is not set"),
}
_BOT_PARAM = {
    "name": "bot",
    "in": "query",
    "required": False,
    "description": "only this bot (its bot_name)",
    "schema": {"type": "string"},
}


def _limit_param(default: int) -> Schema:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": default},
    }


_ID_PARAM = {
    "name": "signal_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}


def _body(schema: Schema, description: str) -> Schema:
    return {"required": False, "description": description, "content": {"application/json": {"schema": schema}}}


def _action(summary: str, body: Schema | None, extra: dict[str, Schema] | None = None) -> Schema:
    op: Schema = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            "200": _json(_ref("ActionResult"), "done"),
            "400": _error("the body is not JSON"),
            "409": _json(_ref("ActionResult"), "not possible now (already decided, not pending, halted)"),
            "422": _error("the body is not valid (the message names the field)"),
            **(extra or {}),
            **_AUTH_ERRORS,
        },
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _signal_action(summary: str, body: Schema) -> Schema:
    op = _action(
        summary,
        body,
        {
            "403": _json(_ref("ActionResult"), "not allowed"),
            "404": {
                "description": "no such signal",
                "content": {"application/json": {"schema": {"anyOf": [_ref("Error"), _ref("ActionResult")]}}},
            },
            "500": _json(_ref("ActionResult"), "the action failed"),
        },
    )
    op["parameters"] = [_ID_PARAM]
    return op


_WEBHOOK_BODY = {
    "required": True,
    "description": "the TradingView alert message (see DESIGN.md, Alerts accepted)",
    "content": {
        "application/json": {"schema": _ref("Alert")},
        "text/plain": {"schema": {"type": "string"}},
    },
}

_PATHS: dict[str, Schema] = {
    "/webhook/{key}": {
        "post": {
            "summary": "Take a TradingView alert",
            "description": "Stores the alert as a signal and answers once it is durably stored.",
            "parameters": [
                {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "X-Signature",
                    "in": "header",
                    "required": False,
                    "description": 'for bots with a signing secret: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>',
                    "schema": {"type": "string"},
                },
                {
                    "name": "X-Signature-Timestamp",
                    "in": "header",
                    "required": False,
                    "description": "unix seconds, within 300 s of the server's clock",
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": _WEBHOOK_BODY,
            "responses": {
                "200": _json(_ref("Accepted"), "stored (accepted) or a repeat of a stored alert (duplicate)"),
                "400": _error("the body is not JSON"),
                "401": _error("unknown key, wrong or missing passphrase, or a missing or bad signature"),
                "403": _error("the client address is not on the allowlist"),
                "409": _error("the bot is inactive or paused"),
                "413": _error("the body is over the size limit"),
                "422": _error(
                    "the alert is unusable: a placeholder, unknown action, missing price, bad number, too old"
                ),
                "429": _error("rate limit per key or per address; see Retry-After"),
                "503": _error("shutting down, or the database did not answer; send again"),
            },
        }
    },
    "/health": {
        "get": {
            "summary": "Component health (database, broker, Discord)",
            "responses": {"200": _json(_ref("Health"), "all up"), "503": _json(_ref("Health"), "something is down")},
        }
    },
    "/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": _json({"type": "object"}, "the OpenAPI document")}}
    },
    "/api/bots": {
        "get": {
            "summary": "Bots (no secrets: the webhook key shows only its last 4 characters)",
            "security": [{"bearer": []}],
            "responses": {
                "200": _json(_obj({"bots": {"type": "array", "items": _ref("Bot")}}), "the bots"),
                "422": _error("an unknown query parameter"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/positions": {
        "get": {
            "summary": "Open positions",
            "security": [{"bearer": []}],
            "parameters": [_BOT_PARAM],
            "responses": {
                "200": _json(_obj({"positions": {"type": "array", "items": _ref("Position")}}), "positions"),
                "422": _error("an unknown query parameter"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/trades": {
        "get": {
            "summary": "Closed trades, newest first",
            "security": [{"bearer": []}],
            "parameters": [_BOT_PARAM, _limit_param(20)],
            "responses": {
                "200": _json(_obj({"trades": {"type": "array", "items": _ref("Trade")}}), "trades"),
                "422": _error("a bad or unknown query parameter"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/signals": {
        "get": {
            "summary": "Signals, newest first (the orders are in GET /api/signals/{signal_id})",
            "security": [{"bearer": []}],
            "parameters": [
                _BOT_PARAM,
                {
                    "name": "state",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": [s.value for s in SignalState]},
                },
                _limit_param(100),
            ],
            "responses": {
                "200": _json(_obj({"signals": {"type": "array", "items": _ref("Signal")}}), "signals"),
                "422": _error("a bad or unknown query parameter"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/events": {
        "get": {
            "summary": "The live feed: events after a sequence number, oldest first (poll with after=last)",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 10**17, "default": 0},
                },
                _limit_param(200),
            ],
            "responses": {
                "200": _json(
                    _obj(
                        {
                            "events": {
                                "type": "array",
                                "items": _obj(
                                    {
                                        "seq": {"type": "integer"},
                                        "kind": {"type": "string"},
                                        "at": {"type": "string", "format": "date-time"},
                                        "severity": {"type": "string", "enum": ["info", "error"]},
                                        "bot_name": _nullable({"type": "string"}),
                                        "signal_id": _nullable({"type": "integer"}),
                                        "text": {"type": "string"},
                                    },
                                    ["seq", "kind", "at", "severity", "bot_name", "signal_id", "text"],
                                ),
                            },
                            "last": {"type": "integer"},
                        },
                        ["events", "last"],
                    ),
                    "events",
                ),
                "422": _error("a bad or unknown query parameter"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/signals/{signal_id}": {
        "get": {
            "summary": "One signal with its state history, orders and approval",
            "security": [{"bearer": []}],
            "parameters": [_ID_PARAM],
            "responses": {
                "200": _json(
                    {
                        "allOf": [
                            _ref("Signal"),
                            _obj(
                                {
                                    "orders": {"type": "array", "items": _ref("Order")},
                                    "approval": _nullable(_ref("Approval")),
                                }
                            ),
                        ]
                    },
                    "the signal",
                ),
                "404": _error("no such signal"),
                "422": _error("an unknown query parameter"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/signals/{signal_id}/approve": {
        "post": _signal_action(
            "Approve a pending signal, optionally with edits (first decision wins)",
            _body(_ref("EditsRequest"), "edits to apply before approving; absent or {} for none"),
        )
    },
    "/api/signals/{signal_id}/reject": {
        "post": _signal_action(
            "Reject a pending signal",
            _body({"type": "object", "maxProperties": 0}, "nothing, or {}"),
        )
    },
    "/api/halt": {
        "post": _action(
            "Kill switch: no new entries anywhere; closes still allowed",
            _body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"reason": _nullable({"type": "string", "maxLength": 500})},
                },
                "an optional reason",
            ),
        )
    },
    "/api/resume": {
        "post": _action("Lift the kill switch", _body({"type": "object", "maxProperties": 0}, "nothing, or {}"))
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "signaldesk",
            "version": "1",
            "description": "TradingView alerts in; bots, positions, trades and signals out. "
            'Every error answer is {"error": {"code": ..., "message": ...}}.',
        },
        "paths": _PATHS,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
