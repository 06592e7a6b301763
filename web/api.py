"""The JSON API behind a bearer token: each route calls one Desk method and formats its answer."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from quart import Blueprint, Response, jsonify, request

from trading.domain.signals import SignalState
from trading.services.actions import ActionResult, Actor
from web import payloads
from web.deps import WebDeps
from web.edits import BadRequestBody, json_object, parse_edits
from web.errors import error_response

log = logging.getLogger("signaldesk.web.api")

API_ACTOR = Actor("api", "API", can_approve=True)
MAX_ID = 2**31 - 1  # the largest id any of our databases stores
MAX_LIMIT = 500
MAX_REASON = 500

_RESULT_STATUS = {
    "ok": 200,
    "forbidden": 403,
    "not_found": 404,
    "already_decided": 409,
    "not_pending": 409,
    "halted": 409,
    "invalid": 422,
    "failed": 500,
}


class _BadQuery(ValueError):
    pass


def _limit(default: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw[:20]!r}")
    return int(raw)


def _only(*names: str) -> None:
    # A misspelt filter (?bots=X) would otherwise return everything without a word.
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        takes = f"this route takes {', '.join(names)}" if names else "this route takes none"
        raise _BadQuery(f"unknown query parameter(s) {', '.join(u[:40] for u in unknown)}; {takes}")


def _bot() -> str | None:
    name = request.args.get("bot")
    return name or None


async def _body() -> bytes:
    # Quart's Body raises 413 (handled app-wide) once more than MAX_CONTENT_LENGTH arrives.
    return bytes(await request.body)


def _result(result: ActionResult) -> Response:
    response = jsonify(payloads.action_result(result))
    response.status_code = 200 if result.ok else _RESULT_STATUS.get(result.code, 409)
    return response


def api_blueprint(deps: WebDeps) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api")
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

    @bp.errorhandler(_BadQuery)
    async def bad_query(e: _BadQuery) -> Response:
        return error_response(422, "invalid_query", str(e))

    @bp.errorhandler(BadRequestBody)
    async def bad_body(e: BadRequestBody) -> Response:
        return error_response(e.status, e.code, e.message)

    @bp.get("/bots")
    async def bots() -> Response:
        _only()
        return jsonify({"bots": [payloads.bot(b) for b in await desk.bots()]})

    @bp.get("/positions")
    async def positions() -> Response:
        _only("bot")
        return jsonify({"positions": [payloads.position(p) for p in await desk.positions(_bot())]})

    @bp.get("/trades")
    async def trades() -> Response:
        _only("bot", "limit")
        found = await desk.trades(_bot(), limit=_limit(20))
        return jsonify({"trades": [payloads.trade(t) for t in found]})

    @bp.get("/signals")
    async def signals() -> Response:
        _only("bot", "state", "limit")
        state = request.args.get("state")
        if state is not None and state not in SignalState.__members__.values():
            allowed = ", ".join(s.value for s in SignalState)
            raise _BadQuery(f"state must be one of {allowed}, not {state[:40]!r}")
        found = await desk.signals(_bot(), state, limit=_limit(100))
        return jsonify({"signals": [payloads.signal(s) for s in found]})

    @bp.get("/events")
    async def events() -> Response:
        _only("after", "limit")
        raw = request.args.get("after", "0")
        if not raw.isdigit() or len(raw) > 18 or int(raw) > 10**17:
            raise _BadQuery(f"after must be a whole number, the last seq seen, not {raw[:40]!r}")
        found = deps.events(int(raw), _limit(200))
        return jsonify(
            {
                "events": [payloads.event(seq, e) for seq, e in found],
                "last": found[-1][0] if found else int(raw),
            }
        )

    @bp.get("/signals/<int:signal_id>")
    async def signal(signal_id: int) -> Response:
        _only()
        view = await desk.signal_view(signal_id) if 1 <= signal_id <= MAX_ID else None
        if view is None:
            return error_response(404, "not_found", f"there is no signal {signal_id}")
        return jsonify(payloads.signal_detail(view))

    @bp.post("/signals/<int:signal_id>/approve")
    async def approve(signal_id: int) -> Response:
        edits = parse_edits(json_object(await _body()))
        if not 1 <= signal_id <= MAX_ID:
            return error_response(404, "not_found", f"there is no signal {signal_id}")
        return _result(await desk.approve(signal_id, API_ACTOR, edits))

    @bp.post("/signals/<int:signal_id>/reject")
    async def reject(signal_id: int) -> Response:
        data = json_object(await _body())
        if data:
            raise BadRequestBody(
                422, "invalid_body", f"reject takes no fields (got {', '.join(sorted(data))}); send nothing or {{}}"
            )
        if not 1 <= signal_id <= MAX_ID:
            return error_response(404, "not_found", f"there is no signal {signal_id}")
        return _result(await desk.reject(signal_id, API_ACTOR))

    @bp.post("/halt")
    async def halt() -> Response:
        data = json_object(await _body())
        reason: Any = data.pop("reason", None)
        if data:
            raise BadRequestBody(422, "invalid_body", f'halt takes only "reason" (got {", ".join(sorted(data))})')
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise BadRequestBody(422, "invalid_body", f'"reason" must be text of at most {MAX_REASON} characters')
        return _result(await desk.halt(API_ACTOR, reason or None))

    @bp.post("/resume")
    async def resume() -> Response:
        data = json_object(await _body())
        if data:
            raise BadRequestBody(422, "invalid_body", f"resume takes no fields (got {', '.join(sorted(data))})")
        return _result(await desk.resume_all(API_ACTOR))

    return bp
