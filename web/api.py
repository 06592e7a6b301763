"""The JSON API behind a bearer token: each route calls one Desk method and formats its answer.

Bodies, answers and query strings are the models in web/models.py; quart-schema validates
requests against them and describes every route in /openapi.json.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from quart import Blueprint, Response, request
from quart_schema import (
    document_response,
    security_scheme_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from trading.services.actions import ActionResult, Actor
from web.deps import WebDeps
from web.errors import error_response
from web.models import (
    ActionResultOut,
    BotOut,
    BotQuery,
    BotsOut,
    CancelBody,
    EditsBody,
    ErrorOut,
    EventOut,
    EventsOut,
    EventsQuery,
    HaltBody,
    NoBotOut,
    NoQuery,
    NoSignalOut,
    OrderBody,
    PositionOut,
    PositionsOut,
    ReconcileBody,
    RefusedOut,
    RejectBody,
    ResumeBody,
    SignalDetailOut,
    SignalOut,
    SignalsOut,
    SignalsQuery,
    TradeOut,
    TradesOut,
    TradesQuery,
)

log = logging.getLogger("signaldesk.web.api")

API_ACTOR = Actor("api", "API", can_approve=True)
MAX_ID = 2**31 - 1  # the largest id any of our databases stores
BOT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # what a bot may be called (trading.domain.config)
_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as every broker takes them
BEARER = "bearer"  # the security scheme's name in /openapi.json

_RESULT_STATUS = {
    "ok": 200,
    "forbidden": 403,
    "not_found": 404,
    "already_decided": 409,
    "same_approver": 409,
    "not_pending": 409,
    "halted": 409,
    "refused": 409,
    "invalid": 422,
    "failed": 500,
    "no_mismatch": 409,  # a repair with nothing to repair
    "busy": 409,  # a signal of the bot is executing: try again
    "broker_unavailable": 502,  # the broker did not answer: try again
    "no_price": 409,
}

ActionAnswer = tuple[ActionResultOut, int]
View = TypeVar("View", bound=Callable[..., Any])


def _documented(*decorators: Callable[[View], View]) -> Callable[[View], View]:
    def apply(view: View) -> View:
        for decorate in decorators:
            view = decorate(view)
        return view

    return apply


def _result(result: ActionResult) -> ActionAnswer:
    return ActionResultOut.of(result), 200 if result.ok else _RESULT_STATUS.get(result.code, 409)


def _no_bot(name: str) -> Response:
    return error_response(404, "not_found", f"there is no bot {name[:64]!r}")


def _no_signal(signal_id: int) -> Response:
    return error_response(404, "not_found", f"there is no signal {signal_id}")


# Every /api answer may be one of these; schemathesis holds each route to its list.
_auth = [document_response(ErrorOut, 401), document_response(ErrorOut, 503)]
_bad_query = document_response(ErrorOut, 422)
_actions = [
    document_response(ErrorOut, 400),
    document_response(ActionResultOut, 409),
    document_response(ErrorOut, 413),
    document_response(RefusedOut, 422),
]
_on_a_signal = [
    document_response(ActionResultOut, 403),
    document_response(NoSignalOut, 404),
    document_response(ActionResultOut, 500),
]


def api_blueprint(deps: WebDeps) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api")
    security_scheme_blueprint(bp, [{BEARER: []}])
    desk = deps.desk
    expected = deps.api_token.encode() if deps.api_token else None

    @bp.before_request
    async def authorize() -> Response | None:
        if expected is None:
            return error_response(503, "api_disabled", "the API is off: set SIGNALDESK_API_TOKEN")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            log.warning("API %s %s refused: missing or wrong bearer token", request.method, request.path)
            return error_response(
                401,
                "unauthorized",
                "missing or wrong API token: send Authorization: Bearer <SIGNALDESK_API_TOKEN>",
                {"WWW-Authenticate": 'Bearer realm="signaldesk"'},
            )
        return None

    @bp.get("/bots")
    @_documented(*_auth, _bad_query)
    @validate_querystring(NoQuery)
    @validate_response(BotsOut)
    async def bots(query_args: NoQuery) -> BotsOut:
        """Bots (no secrets: the webhook key shows only its last 4 characters)"""
        return BotsOut(bots=[BotOut.of(b) for b in await desk.bots()])

    @bp.get("/positions")
    @_documented(*_auth, _bad_query)
    @validate_querystring(BotQuery)
    @validate_response(PositionsOut)
    async def positions(query_args: BotQuery) -> PositionsOut:
        """Open positions"""
        return PositionsOut(positions=[PositionOut.of(p) for p in await desk.positions(query_args.bot)])

    @bp.get("/trades")
    @_documented(*_auth, _bad_query)
    @validate_querystring(TradesQuery)
    @validate_response(TradesOut)
    async def trades(query_args: TradesQuery) -> TradesOut:
        """Closed trades, newest first"""
        found = await desk.trades(query_args.bot, limit=query_args.limit)
        return TradesOut(trades=[TradeOut.of(t) for t in found])

    @bp.get("/signals")
    @_documented(*_auth, _bad_query)
    @validate_querystring(SignalsQuery)
    @validate_response(SignalsOut)
    async def signals(query_args: SignalsQuery) -> SignalsOut:
        """Signals, newest first (the orders are in GET /api/signals/{signal_id})"""
        state = query_args.state.value if query_args.state is not None else None
        found = await desk.signals(query_args.bot, state, limit=query_args.limit)
        return SignalsOut(signals=[SignalOut.of(s) for s in found])

    @bp.get("/events")
    @_documented(*_auth, _bad_query)
    @validate_querystring(EventsQuery)
    @validate_response(EventsOut)
    async def events(query_args: EventsQuery) -> EventsOut:
        """The live feed: events after a sequence number, oldest first (poll with after=last)"""
        found = deps.events(query_args.after, query_args.limit)
        return EventsOut(
            events=[EventOut.of(seq, e) for seq, e in found],
            last=found[-1][0] if found else query_args.after,
        )

    @bp.get("/signals/<int:signal_id>")
    @_documented(*_auth, _bad_query, document_response(ErrorOut, 404))
    @validate_querystring(NoQuery)
    @validate_response(SignalDetailOut)
    async def signal(signal_id: int, query_args: NoQuery) -> SignalDetailOut | Response:
        """One signal with its state history, orders and approval"""
        view = await desk.signal_view(signal_id) if 1 <= signal_id <= MAX_ID else None
        if view is None:
            return _no_signal(signal_id)
        return SignalDetailOut.of_view(view)

    @bp.post("/signals/<int:signal_id>/approve")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(EditsBody)
    @validate_response(ActionResultOut)
    async def approve(signal_id: int, data: EditsBody) -> ActionAnswer | Response:
        """Approve a pending signal, optionally with edits (first decision wins)"""
        if not 1 <= signal_id <= MAX_ID:
            return _no_signal(signal_id)
        return _result(await desk.approve(signal_id, API_ACTOR, data.edits()))

    @bp.post("/signals/<int:signal_id>/reject")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(RejectBody)
    @validate_response(ActionResultOut)
    async def reject(signal_id: int, data: RejectBody) -> ActionAnswer | Response:
        """Reject a pending signal"""
        if not 1 <= signal_id <= MAX_ID:
            return _no_signal(signal_id)
        return _result(await desk.reject(signal_id, API_ACTOR))

    @bp.post("/bots/<name>/reconcile")
    @_documented(
        *_auth,
        *_actions,
        document_response(ActionResultOut, 403),
        document_response(NoBotOut, 404),
        document_response(ActionResultOut, 500),
        document_response(ActionResultOut, 502),
    )
    @validate_request(ReconcileBody)
    @validate_response(ActionResultOut)
    async def reconcile(name: str, data: ReconcileBody) -> ActionAnswer | Response:
        """Repair a position mismatch on the bot's symbol: adopt the broker's side, or flatten it"""
        if not BOT_NAME.fullmatch(name):
            return _no_bot(name)
        return _result(await desk.repair(name, data.action, API_ACTOR))

    @bp.post("/orders")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(OrderBody)
    @validate_response(ActionResultOut)
    async def order(data: OrderBody) -> ActionAnswer:
        """A free-form order (approvers): a signal of source manual, queued at once through the
        bot's engine and risk checks (refused: 409 halted/refused, 422 naming the field)"""
        return _result(await desk.place_order(data.ticket(), API_ACTOR))

    @bp.post("/orders/<client_order_id>/cancel")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(CancelBody)
    @validate_response(ActionResultOut)
    async def cancel(client_order_id: str, data: CancelBody) -> ActionAnswer | Response:
        """Cancel a resting order (approvers); what filled before the cancel is kept, and a
        fill that beat the cancel is the answer (409 too late)"""
        if not _CLIENT_ORDER_ID.fullmatch(client_order_id):
            return error_response(404, "not_found", f"there is no order {client_order_id[:64]!r}")
        return _result(await desk.cancel_order(client_order_id, API_ACTOR))

    @bp.post("/halt")
    @_documented(*_auth, *_actions)
    @validate_request(HaltBody)
    @validate_response(ActionResultOut)
    async def halt(data: HaltBody) -> ActionAnswer:
        """Kill switch: no new entries anywhere; closes still allowed"""
        return _result(await desk.halt(API_ACTOR, data.reason or None))

    @bp.post("/resume")
    @_documented(*_auth, *_actions)
    @validate_request(ResumeBody)
    @validate_response(ActionResultOut)
    async def resume(data: ResumeBody) -> ActionAnswer:
        """Lift the kill switch"""
        return _result(await desk.resume_all(API_ACTOR))

    return bp
