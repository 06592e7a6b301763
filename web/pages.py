"""The web desk's pages: Overview, Approvals, Positions, Signals, Trades, Audit log, Webhook log.

Server-rendered (templates in web/templates, autoescaped); web/static/desk.js keeps them
live from GET /api/events/stream. Every page and form needs a signed-in viewer; what a
form does needs its role (approver: decide, close; admin: halt, pause), which the use case
checks and audits, allowed or refused (a refusal answers 403). The pages show each
control only to those who may use it. The CSRF check ran before any POST view
(web.auth.install).

A part of a page that updates live is its own template (web/templates/parts/); the same
URL with `?part=1` answers that part alone, which the script fetches when an event of
its kinds arrives (e.g. the positions table on OrderFilled).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, current_app, render_template, request
from quart_schema import hide

from trading.domain import display, inputs
from trading.domain.approval_decay import time_left_words
from trading.domain.candles import MINUTE
from trading.domain.inputs import FIELDS, TYPED, InputError, shown
from trading.domain.people import Role
from trading.domain.records import ApprovalRecord, SignalEdits
from trading.domain.signals import SignalState
from trading.domain.views import ApprovalCard, day_totals
from trading.domain.wording import REASON_LIMIT, actor_words, change_words, clean_reason, state_tone, state_words
from trading.services.actions import ActionResult
from trading.services.ledger import MAX_DAYS, UnknownBot
from web.auth import current_actor, current_caller, require_role
from web.card_chart import CANDLES_SHOWN, CardChartData, card_chart_data
from web.deps import WebDeps
from web.health import run_check

log = logging.getLogger("signaldesk.web.pages")

PART = "part"  # ?part=1: only the live part of the page
HEALTH_TTL = 10.0  # seconds a health answer is reused: the broker's is a network round trip
PAGE_SIZE = 100
DECISIONS_SINCE = timedelta(hours=24)
# The webhook's answers, for the log's Status filter (the query takes any status 100-599).
WEBHOOK_STATUSES = {
    200: "accepted",
    400: "bad request",
    401: "wrong passphrase or signature",
    403: "address not allowed",
    409: "bot inactive or paused",
    413: "body too large",
    422: "unusable alert",
    429: "too many requests",
    503: "shutting down",
}  # how far back the Approvals page lists decisions
MAX_ID = 2**31 - 1

_STATUS = {
    "ok": 200,
    "forbidden": 403,
    "not_found": 404,
    "already_decided": 409,
    "not_pending": 409,
    "halted": 409,
    "invalid": 422,
    "failed": 500,
}


# The Edit form of an alert on several accounts: one quantity box per account, "quantity:<account>".
ACCOUNT_QUANTITY = "quantity:"


def account_quantities(form: Any) -> dict[str, Decimal]:
    """The per-account quantity boxes that were filled in, by account."""
    found: dict[str, Decimal] = {}
    for key in form:
        if str(key).startswith(ACCOUNT_QUANTITY) and str(form.get(key, "")).strip():
            quantity = inputs.parse_quantity(TYPED, str(form.get(key)))
            if quantity is not None:
                found[str(key)[len(ACCOUNT_QUANTITY) :]] = quantity
    return found


def parse_edits(form: Any) -> SignalEdits:
    """The Edit form's boxes as SignalEdits, by the domain's rules (trading/domain/inputs.py);
    an empty box leaves that value as the card has it."""
    return inputs.parse_edits(TYPED, *(str(form.get(field, "")) for field in FIELDS))


def _day(text: str | None, label: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{label} must be a date as YYYY-MM-DD, not {shown(text)}") from None


def _int_arg(name: str, low: int = 1, high: int = MAX_ID) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    # Short before int(): past 4,300 digits int() raises instead of answering.
    if len(raw) > len(str(high)) or not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _live_part(card: ApprovalCard) -> dict[str, object]:
    """What of a pending card changes by itself: the quote, its drift, the time left."""
    return {
        "signal_id": card.signal_id,
        "quote": display.price(card.quote, card.tick_size),
        "drift": card.drift_text,
        "seconds_left": int(card.time_left.total_seconds()) if card.time_left is not None else None,
    }


def _wants_part() -> bool:
    return request.args.get(PART) == "1" or request.headers.get("X-Part") == "1"


# ---------------------------------------------------------------------------- formatting (Jinja filters)


def fmt_when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in the order sent, repeated keys kept (a dict would drop them)."""


def _pretty(value: Any, depth: int) -> str:
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(value, _Pairs | list):
        if not value:
            return "{}" if isinstance(value, _Pairs) else "[]"
        if isinstance(value, _Pairs):
            items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, depth + 1)}" for k, v in value]
            return "{\n" + ",\n".join(items) + "\n" + end + "}"
        return "[\n" + ",\n".join(pad + _pretty(v, depth + 1) for v in value) + "\n" + end + "]"
    if isinstance(value, Decimal):
        return str(value)  # as sent: 2.50 stays 2.50
    return json.dumps(value, ensure_ascii=False)


def _change(state: str, cause: str | None, approval: ApprovalRecord | None = None) -> str:
    """A step of a signal's life in words; its decider by the display name kept with the decision."""

    def name(actor_id: str) -> str:
        known = approval.decided_by_name if approval is not None and actor_id == approval.decided_by else None
        return actor_words(actor_id, known)

    return change_words(state, cause, name)


def pretty_json(text: str) -> str:
    """A stored body for reading: JSON indented, numbers and repeated keys as sent; anything
    else (not JSON, or nested too deep to walk) as it is."""
    try:
        return _pretty(json.loads(text, parse_float=Decimal, object_pairs_hook=_Pairs), 0)
    except (ValueError, RecursionError):
        return text


def sign_class(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    return "up" if value > 0 else "down"


def pages_blueprint(deps: WebDeps) -> Blueprint:
    bp = Blueprint("pages", __name__)
    use_cases = deps.use_cases
    health_cache: dict[str, Any] = {"at": -HEALTH_TTL, "value": {}}
    health_lock = asyncio.Lock()

    # Numbers through the one display module every face shares.
    bp.app_template_filter("price")(display.price)  # value|price(tick)
    bp.app_template_filter("money")(display.money)  # value|money(currency)
    bp.app_template_filter("risk")(display.risk)  # value|risk(currency): positive
    bp.app_template_filter("qty")(display.quantity)
    bp.app_template_filter("pct")(display.percent)

    @bp.app_template_filter("when")
    def _when(value: datetime | None) -> str:
        return fmt_when(value)

    @bp.app_template_filter("sign")
    def _sign(value: Decimal | None) -> str:
        return sign_class(value)

    bp.add_app_template_filter(pretty_json, "pretty_json")

    @bp.app_context_processor
    def _constants() -> dict[str, Any]:
        return {"reason_limit": REASON_LIMIT, "webhook_statuses": WEBHOOK_STATUSES}

    @bp.get("/favicon.ico")
    @hide
    async def favicon() -> Response:
        """The desk's icon, for every page and for the browser's own request (no 404 in its console)."""
        answer = await current_app.send_static_file("favicon.svg")
        answer.mimetype = "image/svg+xml"
        return answer

    # States and actors in words, and their colour: the same mapping as Discord's cards.
    bp.add_app_template_filter(actor_words, "actor")
    bp.add_app_template_filter(state_words, "state_words")
    bp.add_app_template_filter(time_left_words, "time_left")
    bp.add_app_template_filter(state_tone, "tone")
    bp.add_app_template_filter(_change, "change")

    async def seq() -> int:
        return await deps.feed.last() if deps.feed is not None else 0

    async def page(template: str, part: str | None = None, status: int = 200, **context: Any) -> Response:
        """The whole page, or (with ?part=1 and a part) the live part alone."""
        caller = current_caller()
        context.setdefault("may_decide", caller is not None and caller.may(Role.APPROVER))
        context.setdefault("is_admin", caller is not None and caller.may(Role.ADMIN))
        if part is not None and _wants_part():
            html = await render_template(part, **context)
        else:
            html = await render_template(template, part_template=part, seq=await seq(), **context)
        return Response(html, status=status, mimetype="text/html")

    def result_status(result: ActionResult) -> int:
        return 200 if result.ok else _STATUS.get(result.code, 409)

    async def health() -> dict[str, tuple[bool, str]]:
        async with health_lock:
            if time.monotonic() - health_cache["at"] < HEALTH_TTL:
                cached: dict[str, tuple[bool, str]] = health_cache["value"]
                return cached
            names = [n for n in deps.health_checks if n in ("database", "broker", "discord")]
            outcomes = await asyncio.gather(
                *(run_check(n, deps.health_checks[n], deps.health_timeout_seconds) for n in names)
            )
            value = dict(zip(names, outcomes, strict=True))
            health_cache.update(at=time.monotonic(), value=value)
            return value

    # ------------------------------------------------------------------ overview

    async def overview(notice: ActionResult | None = None) -> Response:
        statuses, control, accounts = await asyncio.gather(
            use_cases.queries.bot_statuses(deps.clock()), use_cases.queries.control(), use_cases.queries.accounts()
        )
        return await page(
            "overview.html",
            "parts/overview.html",
            status=result_status(notice) if notice else 200,
            bots=statuses,
            totals=day_totals(statuses),
            accounts=accounts,
            control=control,
            health=await health(),
            processes=await processes(),
            notice=notice,
        )

    async def processes() -> list[dict[str, Any]]:
        """The desk's processes for the Overview: which one leads, which one drew the page."""
        if deps.cluster_view is None or deps.cluster_processes is None:
            return []
        try:
            view, names = await asyncio.gather(deps.cluster_view(), deps.cluster_processes())
        except Exception as e:  # the database is down: the health list says so
            log.warning("the desk's processes could not be read: %s", type(e).__name__)
            return []
        return [{"name": n, "leads": n == view.get("led_by"), "here": n == view.get("process")} for n in names]

    @bp.get("/")
    @hide
    @require_role(Role.VIEWER)
    async def home() -> Response:
        return await overview()

    @bp.post("/halt")
    @hide
    @require_role(Role.VIEWER)
    async def halt() -> Response:
        form = await request.form
        reason = str(form.get("reason", "")).strip()[:200] or None
        return await overview(await use_cases.commands.halt(current_actor(), reason))

    @bp.post("/resume")
    @hide
    @require_role(Role.VIEWER)
    async def resume_all() -> Response:
        return await overview(await use_cases.commands.resume_all(current_actor()))

    @bp.post("/bots/<name>/pause")
    @hide
    @require_role(Role.VIEWER)
    async def pause(name: str) -> Response:
        return await overview(await use_cases.commands.pause(name, current_actor(), "paused on the web desk"))

    @bp.post("/bots/<name>/resume")
    @hide
    @require_role(Role.VIEWER)
    async def resume(name: str) -> Response:
        return await overview(await use_cases.commands.resume(name, current_actor()))

    # ------------------------------------------------------------------ approvals

    async def recent_decisions() -> list[Any]:
        return list(await use_cases.queries.recent_decisions(deps.clock() - DECISIONS_SINCE))

    async def approvals_page(notice: ActionResult | None = None, problem: str | None = None) -> Response:
        status = 422 if problem else (result_status(notice) if notice else 200)
        cards, decisions = await asyncio.gather(use_cases.queries.pending_cards(), recent_decisions())
        return await page(
            "approvals.html",
            "parts/cards.html",
            status=status,
            cards=cards,
            decisions=decisions,
            notice=notice,
            problem=problem,
            charts=await card_charts(cards),
            live_every=deps.approval_card_refresh_seconds,
        )

    async def card_charts(cards: Sequence[ApprovalCard | None]) -> dict[int, CardChartData]:
        """Each card's chart, as the Discord card draws it: the last hour of stored candles
        (their closes) with the alert, quote, stop and target as lines (docs/ledger.md)."""
        if deps.candles is None:
            return {}
        now = deps.clock()
        charts: dict[int, CardChartData] = {}
        for card in cards:
            if card is None:
                continue
            candles = await deps.candles.between(card.symbol, now - timedelta(minutes=CANDLES_SHOWN), now + MINUTE)
            charts[card.signal_id] = card_chart_data(card, candles)
        return charts

    @bp.get("/approvals")
    @hide
    @require_role(Role.VIEWER)
    async def approvals() -> Response:
        return await approvals_page()

    @bp.get("/approvals/live")
    @hide
    @require_role(Role.VIEWER)
    async def approvals_live() -> Response:
        """The pending cards' live part, which the Approvals page fetches every
        APPROVAL_CARD_REFRESH_SECONDS: the quote now, its drift from the alert's price in
        words, and the seconds left (the page's countdown ticks by itself in between)."""
        cards = await use_cases.queries.pending_cards()
        return Response(json.dumps({"cards": [_live_part(c) for c in cards]}), mimetype="application/json")

    @bp.get("/approvals/decisions")
    @hide
    @require_role(Role.VIEWER)
    async def decisions() -> Response:
        """The list of recent decisions alone: the Approvals page refetches it on a decision."""
        html = await render_template("parts/decisions.html", decisions=await recent_decisions())
        return Response(html, mimetype="text/html")

    async def card_answer(signal_id: int, notice: ActionResult | None, problem: str | None = None) -> Response:
        """After a decision: the card alone (a fetch from the page's script, X-Part: 1) or
        the whole Approvals page (a plain form post)."""
        if not _wants_part():
            return await approvals_page(notice, problem)
        card = await use_cases.queries.approval_card(signal_id) if 1 <= signal_id <= MAX_ID else None
        status = 422 if problem else (result_status(notice) if notice else 200)
        if card is None:
            status = 404
        caller = current_caller()
        html = await render_template(
            "parts/card.html",
            card=card,
            signal_id=signal_id,
            notice=notice,
            problem=problem,
            may_decide=caller is not None and caller.may(Role.APPROVER),
            charts=await card_charts([card]),
        )
        return Response(html, status=status, mimetype="text/html")

    @bp.get("/approvals/<int:signal_id>/card")
    @hide
    @require_role(Role.VIEWER)
    async def card(signal_id: int) -> Response:
        card = await use_cases.queries.approval_card(signal_id) if 1 <= signal_id <= MAX_ID else None
        if card is not None and card.card_of is not None:
            card = await use_cases.queries.approval_card(card.card_of) or card  # the alert's one card
        caller = current_caller()
        html = await render_template(
            "parts/card.html",
            card=card,
            signal_id=signal_id,
            notice=None,
            problem=None,
            may_decide=caller is not None and caller.may(Role.APPROVER),
            charts=await card_charts([card]),
        )
        return Response(html, status=200 if card else 404, mimetype="text/html")

    def decision(
        act: Callable[[int], Awaitable[ActionResult]],
    ) -> Callable[[int], Awaitable[Response]]:
        async def view(signal_id: int) -> Response:
            if not 1 <= signal_id <= MAX_ID:
                return await card_answer(signal_id, ActionResult(False, f"there is no signal {signal_id}", "not_found"))
            return await card_answer(signal_id, await act(signal_id))

        return view

    async def _approve(signal_id: int) -> ActionResult:
        form = await request.form
        if not form.get("legs"):
            return await use_cases.decisions.approve(signal_id, current_actor())
        # A bot on several accounts: the ticked accounts' legs are approved, the others rejected.
        accounts = [str(a) for a in form.getlist("accounts") if str(a).strip()]
        if not accounts:
            return ActionResult(False, "tick at least one account to approve (or Reject)", "invalid")
        return await use_cases.decisions.approve(signal_id, current_actor(), accounts=accounts)

    async def _reject(signal_id: int) -> ActionResult:
        form = await request.form
        reason = clean_reason(str(form.get("reason", "")), REASON_LIMIT)
        return await use_cases.decisions.reject(signal_id, current_actor(), reason)

    bp.add_url_rule(
        "/approvals/<int:signal_id>/approve",
        "approve",
        hide(require_role(Role.VIEWER)(decision(_approve))),
        methods=["POST"],
    )
    bp.add_url_rule(
        "/approvals/<int:signal_id>/reject",
        "reject",
        hide(require_role(Role.VIEWER)(decision(_reject))),
        methods=["POST"],
    )

    @bp.post("/approvals/<int:signal_id>/edit")
    @hide
    @require_role(Role.VIEWER)
    async def edit(signal_id: int) -> Response:
        caller = current_caller()
        edits = SignalEdits()  # for one who may not edit, the use case refuses (and audits) before reading them
        quantities: dict[str, Decimal] = {}
        if caller is not None and caller.may(Role.APPROVER):
            try:
                form = await request.form
                quantities = account_quantities(form)
                # Only accounts' quantities given: nothing else to change, which is no mistake.
                only_quantities = quantities and not any(str(form.get(f, "")).strip() for f in FIELDS)
                edits = SignalEdits() if only_quantities else parse_edits(form)
            except InputError as e:
                return await card_answer(signal_id, None, str(e))
        if not 1 <= signal_id <= MAX_ID:
            return await card_answer(signal_id, ActionResult(False, f"there is no signal {signal_id}", "not_found"))
        return await card_answer(
            signal_id, await use_cases.decisions.edit(signal_id, current_actor(), edits, quantities or None)
        )

    # ------------------------------------------------------------------ positions

    async def positions_page(notice: ActionResult | None = None) -> Response:
        return await page(
            "positions.html",
            "parts/positions.html",
            status=result_status(notice) if notice else 200,
            positions=[p for p in await use_cases.queries.positions() if p.side is not None and p.quantity],
            notice=notice,
        )

    @bp.get("/positions")
    @hide
    @require_role(Role.VIEWER)
    async def positions() -> Response:
        return await positions_page()

    @bp.get("/positions/<name>/close")
    @hide
    @require_role(Role.APPROVER)
    async def close_confirm(name: str) -> Response:
        held = [p for p in await use_cases.queries.positions(name) if p.side is not None and p.quantity]
        return await page(
            "close.html", None, status=200 if held else 404, bot_name=name, position=held[0] if held else None
        )

    @bp.post("/positions/<name>/close")
    @hide
    @require_role(Role.VIEWER)
    async def close(name: str) -> Response:
        return await positions_page(await use_cases.commands.close_position(name, current_actor()))

    # ------------------------------------------------------------------ signals

    @bp.get("/signals")
    @hide
    @require_role(Role.VIEWER)
    async def signals() -> Response:
        bots = await use_cases.queries.bots()
        bot = request.args.get("bot", "").strip() or None
        state = request.args.get("state", "").strip() or None
        problem = None
        try:
            if state is not None and state not in {s.value for s in SignalState}:
                raise InputError(f"state must be one of {', '.join(s.value for s in SignalState)}")
            before = _int_arg("before")
        except InputError as e:
            problem, state, before = str(e), None, None
        found = await use_cases.queries.signal_list(bot, state, limit=PAGE_SIZE, before_id=before)
        older = None
        if len(found) == PAGE_SIZE:
            args = {k: v for k, v in (("bot", bot), ("state", state)) if v} | {"before": str(found[-1].id)}
            older = "/signals?" + urlencode(args)
        return await page(
            "signals.html",
            "parts/signals.html",
            status=422 if problem else 200,
            signals=found,
            bots=bots,
            states=[s.value for s in SignalState],
            bot=bot,
            state=state,
            older=older,
            problem=problem,
        )

    @bp.get("/signals/<int:signal_id>")
    @hide
    @require_role(Role.VIEWER)
    async def signal(signal_id: int) -> Response:
        view = await use_cases.queries.signal_view(signal_id) if 1 <= signal_id <= MAX_ID else None
        return await page(
            "signal.html", "parts/signal.html", status=200 if view else 404, view=view, signal_id=signal_id
        )

    # ------------------------------------------------------------------ trades, audit, webhooks

    @bp.get("/trades")
    @hide
    @require_role(Role.VIEWER)
    async def trades() -> Response:
        report = await use_cases.queries.trades_report(recent=50)
        points = [[int(at.timestamp()), float(equity)] for at, equity in report.curve]  # the chart's numbers
        return await page(
            "trades.html",
            "parts/trades.html",
            report=report,
            points=points,
            days=list(reversed(report.by_day[-60:])),
        )

    @bp.get("/decisions")
    @hide
    @require_role(Role.VIEWER)
    async def decisions_ledger() -> Response:
        """The decision ledger (docs/ledger.md): the desk against each bot alone."""
        bot = request.args.get("bot", "").strip() or None
        problem = None
        try:
            days = _int_arg("days", 1, MAX_DAYS) or 30
            report = await deps.ledger.edge(bot, days) if deps.ledger is not None else None
        except (InputError, UnknownBot) as e:
            problem, days, report = str(e), 30, None
        curves = {
            b.ledger.bot: [[int(at.timestamp()), float(desk), float(alone)] for at, desk, alone in b.ledger.curve]
            for b in (report.bots if report is not None else ())
        }
        return await page(
            "edge.html",
            "parts/edge.html",
            status=422 if problem else 200,
            report=report,
            curves=curves,
            days=days,
            bot=bot,
            problem=problem,
        )

    @bp.get("/accounts")
    @hide
    @require_role(Role.VIEWER)
    async def accounts() -> Response:
        found = await deps.accounts() if deps.accounts is not None else []
        return await page("accounts.html", accounts=found)

    @bp.get("/audit")
    @hide
    @require_role(Role.VIEWER)
    async def audit() -> Response:
        return await page("audit.html", "parts/audit.html", entries=await use_cases.queries.audit_log(200))

    @bp.get("/webhooks")
    @hide
    @require_role(Role.VIEWER)
    async def webhooks() -> Response:
        bots = await use_cases.queries.bots()
        names = {b.id: b.name for b in bots}
        bot = request.args.get("bot", "").strip() or None
        since_text = request.args.get("since", "").strip()
        until_text = request.args.get("until", "").strip()
        problem = None
        try:
            status = _int_arg("status", 100, 599)
            before = _int_arg("before")
            since = _day(since_text, "from")
            until_day = _day(until_text, "to")
        except InputError as e:
            problem, status, before, since, until_day = str(e), None, None, None, None
        # The day after "to" is the bound; "to" 9999-12-31 has none, and means no bound.
        until = until_day + timedelta(days=1) if until_day and until_day.date() < date.max else None
        rows = await use_cases.queries.webhook_log(
            bot, status=status, since=since, until=until, before_id=before, limit=PAGE_SIZE
        )
        older = None
        if len(rows) == PAGE_SIZE and rows[-1].id is not None:
            args = {
                k: v
                for k, v in (
                    ("bot", bot),
                    ("status", str(status) if status else ""),
                    ("since", since_text if since else ""),
                    ("until", until_text if until_day else ""),
                )
                if v
            }
            older = "/webhooks?" + urlencode(args | {"before": str(rows[-1].id)})
        return await page(
            "webhooks.html",
            "parts/webhooks.html",
            status=422 if problem else 200,
            rows=rows,
            names=names,
            bots=bots,
            bot=bot,
            status_filter=status,
            since=since_text if since else "",
            until=until_text if until_day else "",
            older=older,
            problem=problem,
        )

    return bp
