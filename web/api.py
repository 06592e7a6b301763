"""The JSON API: each route calls one use case, as the caller, and formats its answer.

Callers (web/auth.py): a personal API token (`api:NAME`), the break-glass token
SIGNALDESK_API_TOKEN (`api:break-glass`), or a signed-in browser (`web:NAME`, with the CSRF
token on every POST). Every route needs at least a viewer; the use case checks the role each
action needs (approver: approve, reject; admin: halt, resume) and audits refusals.

Bodies, answers and query strings are the models in web/schemas/; quart-schema validates
requests against them and describes every route in /openapi.json.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from quart import Blueprint, Response, request
from quart_schema import (
    document_response,
    hide,
    security_scheme_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from trading.domain.events import FeedEvent
from trading.domain.people import Role
from trading.services.actions import ActionResult
from trading.services.ledger import UnknownBot
from trading.services.people import token_hash
from web.auth import Caller, Gate, current_actor, current_caller, forbidden, unauthenticated
from web.deps import WebDeps
from web.errors import error_response
from web.schemas.answers import (
    AccountOut,
    AccountsOut,
    ActionResultOut,
    BotOut,
    BotsOut,
    ErrorOut,
    EventOut,
    EventsOut,
    NoBotOut,
    NoSignalOut,
    PositionOut,
    PositionsOut,
    RefusedOut,
    SignalDetailOut,
    SignalOut,
    SignalsOut,
    TradeOut,
    TradesOut,
)
from web.schemas.edge import ApproverEdgeOut, BotEdgeOut, EdgeOut, EdgeQuery
from web.schemas.query_strings import (
    EventsQuery,
    NoQuery,
    PositionsQuery,
    SignalsQuery,
    TradesQuery,
)
from web.schemas.request_bodies import (
    CancelBody,
    EditsBody,
    HaltBody,
    OrderBody,
    ReconcileBody,
    RejectBody,
    ResumeBody,
)
from web.streams import release_when_collected

log = logging.getLogger("signaldesk.web.api")

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


CATCH_UP = 1000  # events a reconnecting stream reads from the table at most, in one read


def _cursor(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.strip().isdigit():
        return None
    value = int(raw.strip())
    return value if value <= 2**63 - 1 else None


def _sse(event: FeedEvent) -> bytes:
    data = json.dumps(EventOut.of(event).model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.seq}\ndata: {data}\n\n".encode()


def _owner(caller: Caller) -> str:
    """Whose stream it is, for the cap per person: web and API streams of one person count together."""
    return f"person:{caller.person.id}" if caller.person is not None else caller.actor.id


class _Released:
    """The stream's body: lets go of its slot and its subscription when closed, even if it
    never started (a generator closed before its first step skips its `finally`)."""

    def __init__(self, body: AsyncGenerator[bytes, None], release: Callable[[], None]) -> None:
        self._body = body
        self._release = release

    def __aiter__(self) -> _Released:
        return self

    async def __anext__(self) -> bytes:
        return await self._body.__anext__()

    async def aclose(self) -> None:
        try:
            await self._body.aclose()
        finally:
            self._release()


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


def api_blueprint(deps: WebDeps, gate: Gate) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api")
    security_scheme_blueprint(bp, [{BEARER: []}])
    use_cases = deps.use_cases
    feed = deps.feed

    @bp.before_request
    async def authorize() -> Response | None:
        caller = await gate.resolve()
        if caller is None:
            log.warning("API %s %s refused: no session and no valid token", request.method, request.path)
            return unauthenticated()
        if not caller.may(Role.VIEWER):
            return forbidden(caller, Role.VIEWER)
        return None

    @bp.get("/bots")
    @_documented(*_auth, _bad_query)
    @validate_querystring(NoQuery)
    @validate_response(BotsOut)
    async def bots(query_args: NoQuery) -> BotsOut:
        """Bots (no secrets: the webhook key shows only its last 4 characters)"""
        return BotsOut(bots=[BotOut.of(b) for b in await use_cases.queries.bots()])

    @bp.get("/accounts")
    @_documented(*_auth, _bad_query)
    @validate_querystring(NoQuery)
    @validate_response(AccountsOut)
    async def accounts(query_args: NoQuery) -> AccountsOut:
        """Broker accounts, each reached just now: balance, equity, currency, open positions (no secrets)"""
        found = await deps.accounts() if deps.accounts is not None else []
        return AccountsOut(accounts=[AccountOut.of(a) for a in found])

    @bp.get("/positions")
    @_documented(*_auth, _bad_query)
    @validate_querystring(PositionsQuery)
    @validate_response(PositionsOut)
    async def positions(query_args: PositionsQuery) -> PositionsOut:
        """Open positions, one per bot and account"""
        found = await use_cases.queries.positions(query_args.bot, query_args.account)
        return PositionsOut(positions=[PositionOut.of(p) for p in found])

    @bp.get("/trades")
    @_documented(*_auth, _bad_query)
    @validate_querystring(TradesQuery)
    @validate_response(TradesOut)
    async def trades(query_args: TradesQuery) -> TradesOut:
        """Closed trades, newest first"""
        found = await use_cases.queries.trades(query_args.bot, limit=query_args.limit, account=query_args.account)
        return TradesOut(trades=[TradeOut.of(t) for t in found])

    @bp.get("/signals")
    @_documented(*_auth, _bad_query)
    @validate_querystring(SignalsQuery)
    @validate_response(SignalsOut)
    async def signals(query_args: SignalsQuery) -> SignalsOut:
        """Signals, newest first (the orders are in GET /api/signals/{signal_id})"""
        state = query_args.state.value if query_args.state is not None else None
        found = await use_cases.queries.signals(query_args.bot, state, limit=query_args.limit)
        return SignalsOut(signals=[SignalOut.of(s) for s in found])

    @bp.get("/edge")
    @_documented(*_auth, _bad_query, document_response(ErrorOut, 404))
    @validate_querystring(EdgeQuery)
    @validate_response(EdgeOut)
    async def edge(query_args: EdgeQuery) -> EdgeOut | Response:
        """The decision ledger: per bot, the desk's P&L against the bot alone's (`edge` = desk − bot
        alone), and per approver, over the last `days` days (docs/ledger.md)"""
        if deps.ledger is None:
            return EdgeOut(bots=[], approvers=[])
        try:
            report = await deps.ledger.edge(query_args.bot, query_args.days)
        except UnknownBot:
            return _no_bot(query_args.bot or "")
        return EdgeOut(
            bots=[BotEdgeOut.of(b.ledger) for b in report.bots],
            approvers=[ApproverEdgeOut.of(a) for a in report.approvers],
        )

    @bp.get("/events")
    @_documented(*_auth, _bad_query)
    @validate_querystring(EventsQuery)
    @validate_response(EventsOut)
    async def events(query_args: EventsQuery) -> EventsOut:
        """The live feed: stored events after a sequence number, oldest first (poll with after=last;
        numbers only grow, across restarts too). Browsers use GET /api/events/stream."""
        found = await feed.after(query_args.after, query_args.limit) if feed is not None else []
        return EventsOut(events=[EventOut.of(e) for e in found], last=found[-1].seq if found else query_args.after)

    @bp.get("/events/stream")
    @hide
    async def event_stream() -> Response:
        """Server-Sent Events: each new event as `id: <seq>` and `data: <EventOut JSON>`.

        A reconnect with Last-Event-ID (or a first connect with ?after=<seq>, e.g. the seq a
        page was rendered at) first reads what was missed from the table, once; after that,
        events come from memory (the feed's fan-out), with no database read per client."""
        if feed is None:
            return error_response(503, "feed_off", "this desk has no event feed")
        raw = request.headers.get("Last-Event-ID") or request.args.get("after")
        after = _cursor(raw)
        if raw is not None and after is None:
            return error_response(
                422, "invalid_query", "Last-Event-ID / after must be a whole number, the last seq seen"
            )
        caller = current_caller()
        assert caller is not None  # authorize() ran first
        credential = gate.credential()
        session = token_hash(credential) if caller.via == "web" and credential is not None else None
        slot = gate.streams.open(_owner(caller), session)
        if isinstance(slot, str):
            log.warning("event stream refused for %s: %s", caller.actor.id, slot)
            return error_response(429, "too_many_streams", slot, {"Retry-After": "30"})
        subscription = await feed.subscribe()  # before the catch-up read, so nothing falls between
        keepalive = deps.sse_keepalive_seconds

        async def signed_in() -> bool:
            try:
                return await gate.still_valid(caller, credential)
            except Exception as e:  # cannot tell: the browser reconnects and is asked again
                log.warning(
                    "event stream of %s ended: its credential could not be checked (%s)",
                    caller.actor.id,
                    type(e).__name__,
                )
                return False

        async def events() -> AsyncGenerator[bytes, None]:
            sent = after
            ended = asyncio.ensure_future(slot.ended.wait())
            checked = time.monotonic()
            try:
                yield b"retry: 2000\n\n"
                if after is not None:
                    missed = await feed.after(after, CATCH_UP)
                    for old in missed:
                        yield _sse(old)
                        sent = old.seq
                    if len(missed) == CATCH_UP:
                        return  # more to read: the browser reconnects from the last id it got
                while not deps.draining.is_set():
                    waiting = asyncio.ensure_future(subscription.next(keepalive))
                    await asyncio.wait({waiting, ended}, return_when=asyncio.FIRST_COMPLETED)
                    if ended.done():  # signed out in this process: at once
                        waiting.cancel()
                        return
                    event = waiting.result()
                    if subscription.overflowed:
                        return  # fell behind: the browser reconnects and catches up from the table
                    # A session or token ended elsewhere (another process: `signaldesk users
                    # disable`): found out at every keep-alive, and at least that often when busy.
                    if time.monotonic() - checked >= keepalive or event is None:
                        if not await signed_in():
                            return
                        checked = time.monotonic()
                    if event is None:
                        yield b": keep-alive\n\n"
                    elif sent is None or event.seq > sent:
                        yield _sse(event)
                        sent = event.seq
            finally:
                ended.cancel()
                subscription.close()
                slot.release()

        def let_go() -> None:
            subscription.close()
            slot.release()

        body = _Released(events(), let_go)
        release_when_collected(body, slot)
        response = Response(
            body,
            200,
            {"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        response.timeout = None  # a stream lasts as long as the page is open
        return response

    @bp.get("/signals/<int:signal_id>")
    @_documented(*_auth, _bad_query, document_response(ErrorOut, 404))
    @validate_querystring(NoQuery)
    @validate_response(SignalDetailOut)
    async def signal(signal_id: int, query_args: NoQuery) -> SignalDetailOut | Response:
        """One signal with its state history, orders and approval"""
        view = await use_cases.queries.signal_view(signal_id) if 1 <= signal_id <= MAX_ID else None
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
        return _result(await use_cases.decisions.approve(signal_id, current_actor(), data.edits(), data.accounts))

    @bp.post("/signals/<int:signal_id>/reject")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(RejectBody)
    @validate_response(ActionResultOut)
    async def reject(signal_id: int, data: RejectBody) -> ActionAnswer | Response:
        """Reject a pending signal, optionally saying why (kept in the audit, on the signal and the card)"""
        if not 1 <= signal_id <= MAX_ID:
            return _no_signal(signal_id)
        return _result(await use_cases.decisions.reject(signal_id, current_actor(), data.reason))

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
        return _result(await use_cases.repairs.repair(name, data.action, current_actor(), data.account))

    @bp.post("/orders")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(OrderBody)
    @validate_response(ActionResultOut)
    async def order(data: OrderBody) -> ActionAnswer:
        """A free-form order (approvers): a signal of source manual, queued at once through the
        bot's engine and risk checks (refused: 409 halted/refused, 422 naming the field)"""
        return _result(await use_cases.orders.place_order(data.ticket(), current_actor()))

    @bp.post("/orders/<client_order_id>/cancel")
    @_documented(*_auth, *_actions, *_on_a_signal)
    @validate_request(CancelBody)
    @validate_response(ActionResultOut)
    async def cancel(client_order_id: str, data: CancelBody) -> ActionAnswer | Response:
        """Cancel a resting order (approvers); what filled before the cancel is kept, and a
        fill that beat the cancel is the answer (409 too late)"""
        if not _CLIENT_ORDER_ID.fullmatch(client_order_id):
            return error_response(404, "not_found", f"there is no order {client_order_id[:64]!r}")
        return _result(await use_cases.orders.cancel_order(client_order_id, current_actor()))

    @bp.post("/halt")
    @_documented(*_auth, *_actions)
    @validate_request(HaltBody)
    @validate_response(ActionResultOut)
    async def halt(data: HaltBody) -> ActionAnswer:
        """Kill switch: no new entries anywhere; closes still allowed"""
        return _result(await use_cases.commands.halt(current_actor(), data.reason or None))

    @bp.post("/resume")
    @_documented(*_auth, *_actions)
    @validate_request(ResumeBody)
    @validate_response(ActionResultOut)
    async def resume(data: ResumeBody) -> ActionAnswer:
        """Lift the kill switch"""
        return _result(await use_cases.commands.resume_all(current_actor()))

    return bp
