"""Pure builders: read models in, discord.Embed (and which buttons) out. No I/O, no client.

A trader reads these at a glance, often on a phone: the numbers sit in code blocks so
they line up, P&L is signed with its currency, times are Discord timestamps so each
reader sees their own time zone (timestamps do not render inside code blocks, so they
stay outside them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

import discord

from bot.discord.formatting import clip, code_block, table, ts
from trading.domain.approval_decay import time_left_words
from trading.domain.display import amount, money, percent, price, quantity, risk
from trading.domain.events import ApprovalDecided, Event, Severity
from trading.domain.records import Bot, ControlState, SignalEdits, TradeRecord
from trading.domain.views import ApprovalCard, PnlView, PositionView, SignalView
from trading.domain.wording import actor_words, change_words, state_tone, state_words
from trading.services.actions import ActionResult

PENDING = "pending_approval"
BUTTONS = ("approve", "edit", "reject")

GREEN = discord.Colour(0x2ECC71)
RED = discord.Colour(0xE74C3C)
AMBER = discord.Colour(0xF39C12)
GREY = discord.Colour(0x95A5A6)
BLUE = discord.Colour(0x5865F2)

# state -> the mark before its words (the words and the colour are trading/domain/wording.py's)
_STATE_MARK = {
    PENDING: "⏳",
    "received": "📥",
    "approved": "✅",
    "queued": "✅",
    "executing": "⚙️",
    "executed": "✅",
    "failed": "❌",
    "rejected": "🚫",
    "expired": "⌛",
    "canceled": "🚫",
    "refused": "⛔",
    "ignored": "➖",
}
_TONE_COLOUR = {"good": GREEN, "waiting": AMBER, "bad": RED}

DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024


_DISCORD_ACTOR = re.compile(r"^discord:(\d+)$")


def who(actor: str) -> str:
    """An actor as a reader knows them: a Discord member as a mention (shown as their name,
    pinging no one inside an embed), anyone else in the desk's words ("bob", "the admin token")."""
    m = _DISCORD_ACTOR.match(actor)
    return f"<@{m.group(1)}>" if m else actor_words(actor)


def state_look(state: str) -> tuple[str, discord.Colour]:
    """A state's headline and colour, in the words the web desk uses: red refused or failed,
    amber waiting, green done, grey otherwise."""
    mark = _STATE_MARK.get(state, "•")
    return f"{mark} {state_words(state).capitalize()}", _TONE_COLOUR.get(state_tone(state), GREY)


def card_buttons(card: ApprovalCard) -> tuple[str, ...]:
    """The buttons a card carries: all three while it waits for a decision, none after."""
    return BUTTONS if card.state == PENDING else ()


# Discord refuses a link button whose URL is not http(s) or is longer than this; the alert's
# chart_url is the sender's text, so one that would be refused is left off rather than
# costing the whole card.
URL_LIMIT = 512
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def card_link(card: ApprovalCard) -> str | None:
    """The alert's chart URL for the card's link button, when it is one Discord accepts."""
    url = (card.chart_url or "").strip()
    if not url or len(url) > URL_LIMIT or not _URL.match(url):
        return None
    return url


def approvals_line(card: ApprovalCard) -> str | None:
    """ "1 of 2 — approved by X" while a two-approver card waits; why it needs two before."""
    if card.state != PENDING or card.second_approval_reason is None:
        return None
    if card.first_approved_by is None:
        return f"👥 Needs 2 approvers (0 of 2): {card.second_approval_reason}"
    when = f" {ts(card.first_approved_at)}" if card.first_approved_at else ""
    return (
        f"👥 **1 of 2** — approved by {who(card.first_approved_by)}{when}; "
        f"waiting for a second, different approver ({card.second_approval_reason})"
    )


def expired_line(card: ApprovalCard) -> str:
    """The short line posted under an expired card."""
    return (
        f"⌛ Signal #{card.signal_id} for {card.bot_name} ({card.plan_summary} · {card.action.replace('_', ' ')}) "
        "expired without a decision; nothing was sent."
    )


def reminder_text(card: ApprovalCard, role_id: int | None) -> str:
    """The one reminder posted under a card half way to its expiry."""
    ping = f"<@&{role_id}> " if role_id is not None else ""
    expires = f", expires {ts(card.expires_at)}" if card.expires_at else ""
    of_two = " (1 of 2 approvals so far)" if card.first_approved_by and card.second_approval_reason else ""
    return f"⏰ {ping}Signal #{card.signal_id} for {card.bot_name} still awaits a decision{of_two}{expires}."


def new_card_text(role_id: int | None) -> str | None:
    """The message text above a new card: the approver role's mention, when one is set."""
    return f"<@&{role_id}> a new signal awaits approval" if role_id is not None else None


def _quantity_text(card: ApprovalCard) -> str:
    if card.order_type.value == "limit":
        return f"{quantity(card.quantity)} limit @ {price(card.limit_price, card.tick_size)}"
    return f"{quantity(card.quantity)} {card.order_type.value}"


def _edits_text(edits: SignalEdits, tick: Decimal | None = None) -> str:
    parts = []
    if edits.quantity is not None:
        parts.append(f"quantity {quantity(edits.quantity)}")
    if edits.order_type is not None:
        parts.append(f"type {edits.order_type.value}")
    if edits.limit_price is not None:
        parts.append(f"limit {price(edits.limit_price, tick)}")
    if edits.stop_loss is not None:
        parts.append(f"stop {price(edits.stop_loss, tick)}")
    if edits.take_profit is not None:
        parts.append(f"target {price(edits.take_profit, tick)}")
    return ", ".join(parts) or "nothing"


def approval_embed(card: ApprovalCard) -> discord.Embed:
    headline, colour = state_look(card.state)
    action = card.action.replace("_", " ")
    pending = card.state == PENDING
    # Expired before anyone decided; an approved signal whose limit order timed out is
    # "expired" too, and says what filled.
    lapsed = card.state == "expired" and card.decided_by in (None, "expiry")
    # Once decided, the Desk's card re-plans against the position as it is now (after the
    # fill), so plan, quote, risk and position rows would describe a trade that is not
    # this one; a decided card shows what was asked and what happened instead.
    on = accounts_on(card)
    title = f"#{card.signal_id} {card.bot_name}{on} · " + (f"{card.plan_summary} · {action}" if pending else action)

    lines = []
    if pending:
        lines.append(
            f"**{headline}**" + (f", expires {ts(card.expires_at)}" if card.expires_at else "") + countdown(card)
        )
    elif lapsed:
        expired_at = card.decided_at or card.expires_at
        lines.append(f"**{headline}**" + (f" {ts(expired_at)}" if expired_at else "") + ", nothing was sent")
        if card.lapse_reason:
            lines.append(f"⌛ {card.lapse_reason}")
    else:
        by = f" by {who(card.decided_by)}" if card.decided_by else ""
        if by and card.state in ("expired", "canceled"):
            by = f", approved{by}"  # the order ended later, not by the approver's hand
        when = f" at {ts(card.decided_at, 'f')}" if card.decided_at else ""
        first = ""
        if card.first_approved_by and card.state not in ("rejected", "expired"):
            first = f" (2 of 2; first {who(card.first_approved_by)})"
        elif card.first_approved_by:
            first = f" (after 1 of 2 by {who(card.first_approved_by)})"
        lines.append(f"**{headline}**{by}{when}{first}")
    if card.decision_reason:
        lines.append(f"💬 Reason: {discord.utils.escape_markdown(clip(card.decision_reason, 500))}")
    if (approvals := approvals_line(card)) is not None:
        lines.append(approvals)
    if card.outcome and not lapsed:
        lines.append(f"**{card.outcome}**")

    tick = card.tick_size
    drift = f" ({percent(card.drift_pct)})" if card.drift_pct is not None else ""
    per_account = bool(card.account_lines)  # quantity, risk and position are each account's
    rows = [
        *([("Plan", f"{card.plan_summary} · {action}")] if pending else []),
        ("Symbol", card.symbol),
        *([] if per_account else [("Quantity", _quantity_text(card))]),
        ("Alert price", price(card.alert_price, tick)),
        *([("RSI", f"{card.rsi.normalize():f}")] if card.rsi is not None else []),
        *([("Timeframe", card.timeframe)] if card.timeframe else []),
        *([("Quote now", quote_text(card) or f"{price(card.quote, tick)}{drift}")] if pending else []),
        ("Stop", price(card.stop_loss, tick)),
        ("Target", price(card.take_profit, tick)),
        *(
            [("At risk", risk(card.risk_to_stop, card.currency)), ("Position", _position_change(card))]
            if pending and not per_account
            else []
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines.append(code_block("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)))
    if (accounts := account_lines_text(card)) is not None:
        lines.append(accounts)

    if card.ignored_reason:
        lines.append(
            f"⛔ Refused: {card.ignored_reason}" if card.refused else f"➖ Nothing to do: {card.ignored_reason}"
        )
    if card.sizing:
        lines.append(f"📐 Sized by risk: {card.sizing}")
    if card.edits is not None:
        by = f" by {who(card.edited_by)}" if card.edited_by else ""
        lines.append(f"✏️ Edited{by}: {_edits_text(card.edits, tick)}")
    lines.extend(f"• {note}" for note in card.notes)

    embed = discord.Embed(title=clip(title, 256), description=clip("\n".join(lines), DESCRIPTION_LIMIT), colour=colour)
    embed.set_footer(text=f"signal {card.signal_id} · {state_words(card.state)}")
    return embed


def quote_text(card: ApprovalCard) -> str | None:
    """The quote now and its drift from the alert's price in a trader's words, while the
    card waits ("53,476.5, +266.0 (+0.50%) above the alert"); None when the Desk gave no drift."""
    if card.drift_text is None:
        return None
    return f"{price(card.quote, card.tick_size)}, {card.drift_text}"


def countdown(card: ApprovalCard) -> str:
    """The time left to decide, to the minute (the live card is edited when this text
    changes, so at most once a minute for the countdown)."""
    return f" · ⏱️ {time_left_words(card.time_left, to_the_minute=True)}" if card.time_left is not None else ""


def accounts_on(card: ApprovalCard) -> str:
    """The title's accounts: every account of the alert on its one card, a leg's own otherwise."""
    if card.account_lines:
        return " on " + ", ".join(line.account for line in card.account_lines)
    return f" on {card.account}" if card.account else ""


def account_lines_text(card: ApprovalCard) -> str | None:
    """Each account's line on the one card of an alert for a bot on several accounts: the
    quantity as scaled there, the position before → after and the money at risk while it
    waits; once decided, where each leg ended. None for a bot on one account."""
    if not card.account_lines:
        return None
    if card.state == PENDING:
        rows = [
            (
                line.account,
                _order_quantity(card, line.quantity),
                f"{line.position_before} → {line.position_after}",
                risk(line.risk_to_stop, line.currency),
            )
            for line in card.account_lines
        ]
        return code_block(table(("ACCOUNT", "QTY", "POSITION", "AT RISK"), rows, right={1, 3}))
    ended = [
        (line.account, quantity(line.quantity), state_words(line.state), line.outcome or "")
        for line in card.account_lines
    ]
    return code_block(table(("ACCOUNT", "QTY", "STATE", "OUTCOME"), ended, right={1}))


def _order_quantity(card: ApprovalCard, contracts: Decimal) -> str:
    return _quantity_text(dataclasses.replace(card, quantity=contracts))


def order_embed(card: ApprovalCard) -> discord.Embed:
    """A free-form order before it is placed: the plan as an approval card shows it."""
    action = card.action.replace("_", " ")
    tick = card.tick_size
    at = (
        f"{price(card.limit_price, tick)} limit"
        if card.limit_price is not None
        else f"{price(card.quote, tick)} (quote now)"
    )
    rows = [
        ("Plan", f"{card.plan_summary} · {action}"),
        ("Symbol", card.symbol),
        ("Quantity", _quantity_text(card)),
        ("Price", at),
        ("Stop", price(card.stop_loss, tick)),
        ("Target", price(card.take_profit, tick)),
        ("At risk", risk(card.risk_to_stop, card.currency)),
        ("Position", _position_change(card)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [code_block("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))]
    lines.extend(f"• {note}" for note in card.notes)
    title = f"New order · {card.bot_name} · {card.plan_summary}"
    embed = discord.Embed(title=clip(title, 256), description=clip("\n".join(lines), DESCRIPTION_LIMIT), colour=AMBER)
    embed.set_footer(text="your own order: no approval card; the risk checks run again when it executes")
    return embed


def _position_change(card: ApprovalCard) -> str:
    return f"{card.position_before} → {card.position_after}"


def positions_embed(positions: Sequence[PositionView], control: ControlState | None = None) -> discord.Embed:
    embed = discord.Embed(title="Positions", colour=BLUE)
    open_ = [p for p in positions if p.side is not None and p.quantity]
    if not open_:
        embed.description = "No open positions." + _halt_line(control)
        return embed
    rows = []
    totals: dict[str, Decimal] = {}
    for p in open_:
        side = p.side.value if p.side else "flat"
        levels = f"{len(p.entries)}/{p.max_positions}"
        rows.append(
            (
                p.bot_name,
                p.symbol,
                side,
                quantity(p.quantity),
                levels,
                price(p.average_price, p.tick_size),
                price(p.last_price, p.tick_size),
                "—" if p.unrealized_pnl is None else amount(p.unrealized_pnl, p.currency, signed=True),
            )
        )
        if p.unrealized_pnl is not None:
            totals[p.currency] = totals.get(p.currency, Decimal(0)) + p.unrealized_pnl
    body = table(("BOT", "SYM", "SIDE", "QTY", "LVL", "AVG", "LAST", "UNREAL"), rows, right={3, 4, 5, 6, 7})
    total = ", ".join(money(v, c) for c, v in sorted(totals.items())) or "—"
    desc = code_block(body) + f"\nUnrealized total: **{total}**"
    stops = [
        f"{p.bot_name}: stop {price(p.stop_loss, p.tick_size)}, target {price(p.take_profit, p.tick_size)}"
        for p in open_
        if p.stop_loss is not None or p.take_profit is not None
    ]
    if stops:
        desc += "\n" + "\n".join(stops)
    embed.description = clip(desc + _halt_line(control), DESCRIPTION_LIMIT)
    if totals:
        embed.colour = GREEN if sum(totals.values()) >= 0 else RED
    return embed


def trades_embed(
    trades: Sequence[TradeRecord],
    currency: str,
    bot_name: str | None = None,
    ticks: Mapping[str, Decimal] | None = None,
) -> discord.Embed:
    """The latest closed trades; `ticks` (symbol → tick) rounds their prices for display."""
    ticks = ticks or {}
    title = "Trades" + (f" · {bot_name}" if bot_name else "")
    embed = discord.Embed(title=title, colour=BLUE)
    if not trades:
        embed.description = "No closed trades yet."
        return embed
    rows = [
        (
            t.closed_at.strftime("%m-%d %H:%M"),
            t.bot_name,
            t.side.value,
            quantity(t.quantity),
            price(t.entry_price, ticks.get(t.symbol)),
            price(t.exit_price, ticks.get(t.symbol)),
            amount(t.realized_pnl, currency, signed=True),
        )
        for t in trades
    ]
    total = sum((t.realized_pnl for t in trades), Decimal(0))
    body = table(("CLOSED UTC", "BOT", "SIDE", "QTY", "ENTRY", "EXIT", "P&L"), rows, right={3, 4, 5, 6})
    desc = code_block(body)
    # Keep the sum visible even when many rows must be cut to fit.
    tail = f"\n{len(trades)} trades, realized **{money(total, currency)}**"
    if len(desc) + len(tail) > DESCRIPTION_LIMIT:
        keep = DESCRIPTION_LIMIT - len(tail) - 20
        desc = code_block(clip(body, keep))
    embed.description = desc + tail
    embed.colour = GREEN if total >= 0 else RED
    return embed


def pnl_embed(pnl: PnlView, period_label: str) -> discord.Embed:
    scope = pnl.bot_name or "all bots"
    total = pnl.realized + (pnl.unrealized or Decimal(0))
    # Counted by the sign of each trade's whole amount (a -0.50 trade is a loss, once).
    win_rate = f"{Decimal(pnl.wins * 100) / pnl.trades:.0f}%" if pnl.trades else "—"
    rows = [
        ("Realized", money(pnl.realized, pnl.currency)),
        ("Unrealized", money(pnl.unrealized, pnl.currency)),
        ("Total", money(total, pnl.currency)),
        ("Trades", quantity(pnl.trades)),
        ("Wins / losses", f"{pnl.wins} / {pnl.losses}"),
        ("Win rate", win_rate),
    ]
    width = max(len(k) for k, _ in rows)
    vwidth = max(len(v) for _, v in rows)
    body = "\n".join(f"{k.ljust(width)}  {v.rjust(vwidth)}" for k, v in rows)
    since = f"\nsince {ts(pnl.since, 'f')}" if pnl.since else ""
    return discord.Embed(
        title=f"P&L · {scope} · {period_label}",
        description=code_block(body) + since,
        colour=GREEN if total >= 0 else RED,
    )


def bots_embed(bots: Sequence[Bot], control: ControlState | None = None) -> discord.Embed:
    embed = discord.Embed(title="Bots", colour=RED if control and control.halted else BLUE)
    if not bots:
        embed.description = "No bots configured." + _halt_line(control)
        return embed
    rows = []
    notes = []
    for b in bots:
        c = b.config
        status = "off" if not c.is_active else "paused" if b.paused else "ATTN" if b.needs_attention else "on"
        rows.append(
            (
                b.name,
                c.symbol,
                c.broker_account,
                c.mode.value,
                status,
                str(c.base_position_size),
                str(c.max_positions if c.allow_pyramiding else 1),
            )
        )
        if b.paused and b.paused_reason:
            notes.append(f"⏸️ {b.name}: {b.paused_reason}")
        if b.needs_attention and b.attention_reason:
            notes.append(f"⚠️ {b.name}: {b.attention_reason}")
    body = table(("BOT", "SYM", "BROKER", "MODE", "STATE", "SIZE", "MAX"), rows, right={5, 6})
    desc = code_block(body) + ("\n" + "\n".join(notes) if notes else "") + _halt_line(control)
    embed.description = clip(desc, DESCRIPTION_LIMIT)
    return embed


def signal_embed(view: SignalView) -> discord.Embed:
    s = view.signal
    headline, colour = state_look(s.state.value)
    sig = s.signal
    lines = [f"**{headline}**" + (f": {s.reason}" if s.reason else "")]
    rows = [
        ("Action", sig.action.value.replace("_", " ")),
        ("Price", price(sig.price, view.tick_size)),
        ("Quantity", _signal_quantity(view)),
        ("Type", sig.order_type.value),
        ("Stop", price(sig.stop_loss, view.tick_size)),
        ("Target", price(sig.take_profit, view.tick_size)),
    ]
    if sig.alert_id:
        rows.append(("Alert id", sig.alert_id))
    width = max(len(k) for k, _ in rows)
    lines.append(code_block("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)))
    if s.edits is not None:
        lines.append(f"✏️ Edited: {_edits_text(s.edits, view.tick_size)}")
    if view.approval is not None:
        a = view.approval
        if a.decision is not None:
            by = f" by {who(a.decided_by)}" if a.decided_by else ""
            at = f" {ts(a.decided_at, 'f')}" if a.decided_at else ""
            lines.append(f"Decision: {a.decision.value}{by}{at}")
        else:
            lines.append(f"Waiting for approval, expires {ts(a.expires_at)}")
    if view.orders:
        order_rows = [
            (
                o.client_order_id,
                o.side.value,
                quantity(o.quantity),
                o.status.value,
                f"{quantity(o.filled_quantity)} @ {price(o.average_fill_price, view.tick_size)}"
                if o.filled_quantity
                else "—",
            )
            for o in view.orders
        ]
        lines.append(code_block(table(("ORDER", "SIDE", "QTY", "STATUS", "FILLED"), order_rows, right={2})))
        lines.extend(f"❌ {o.client_order_id}: {o.error}" for o in view.orders if o.error)
    if s.history:
        hist = [
            f"{ts(h.at, 'T')} {change_words(h.state.value, h.cause, who)}" + (f": {h.reason}" if h.reason else "")
            for h in s.history
        ]
        lines.append("\n".join(hist[-10:]))
    embed = discord.Embed(
        title=f"Signal #{s.id} · {s.bot_name}", description=clip("\n".join(lines), DESCRIPTION_LIMIT), colour=colour
    )
    embed.set_footer(text=f"received {s.created_at:%Y-%m-%d %H:%M:%S} UTC")
    return embed


def _signal_quantity(view: SignalView) -> str:
    """What the alert asked for; once orders filled, what filled (the alert may have asked
    for none and left the size to the bot)."""
    filled = sum(o.filled_quantity for o in view.orders)
    asked = view.signal.signal.quantity
    if filled:
        return quantity(filled) + ("" if asked in (None, filled) else f" filled (asked {quantity(asked)})")
    return quantity(asked) if asked is not None else "bot default"


def result_text(result: ActionResult) -> str:
    """An ActionResult as the one line a user reads in an ephemeral reply."""
    mark = "✅" if result.ok else "⚠️" if result.code in ("already_decided", "not_pending") else "⛔"
    return f"{mark} {result.message}"


_EVENT_MARK = {
    "ApprovalRequested": "🗳️",
    "ApprovalDecided": "🧑‍⚖️",
    "ApprovalProgress": "👥",
    "ApprovalReminder": "⏰",
    "DeskStarted": "🟢",
    "LeaderChanged": "👑",
    "DeskStopping": "🔴",
    "OrderPlaced": "📤",
    "OrderFilled": "💱",
    "OrderCancelled": "🚫",
    "TradeClosed": "💰",
    "StopMoved": "🎯",
    "SignalIgnored": "➖",
    "SignalRefused": "⛔",
    "ExecutionFailed": "❌",
    "PositionMismatch": "⚠️",
    "BotStateChanged": "🔧",
    "HaltChanged": "🛑",
    "ExitFailing": "🚨",
    "QuotesUnavailable": "📵",
    "QuotesBack": "📶",
    "PositionRepaired": "🩹",
    "DatabaseDown": "🗄️",
    "DatabaseBack": "🗄️",
}


def event_line(event: Event) -> str:
    """One line for the log or error channel."""
    mark = _EVENT_MARK.get(event.kind, "❗" if event.severity is Severity.ERROR else "•")
    if isinstance(event, ApprovalDecided) and event.reason:  # a person's words: shown as typed
        event = dataclasses.replace(event, reason=discord.utils.escape_markdown(event.reason))
    return f"{mark} {ts(event.at, 'T')} {event.text()}"


def _halt_line(control: ControlState | None) -> str:
    if control is None or not control.halted:
        return ""
    by = f" by {who(control.halted_by)}" if control.halted_by else ""
    why = f": {control.reason}" if control.reason else ""
    return f"\n🛑 **Trading is HALTED**{by}{why}"
