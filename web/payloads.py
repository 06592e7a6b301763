"""Domain objects as JSON: decimals as strings (no float rounding of money), times as
ISO-8601 UTC, and never a secret (no key hashes, passphrases or signing secrets)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trading.domain.events import Event
from trading.domain.position import Entry
from trading.domain.records import (
    ApprovalRecord,
    Bot,
    ControlState,
    OrderRecord,
    SignalEdits,
    StateChange,
    StoredSignal,
    TradeRecord,
)
from trading.domain.views import PositionView, SignalView
from trading.services.actions import ActionResult

Json = dict[str, Any]


def dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # stored times are UTC; some databases hand them back naive
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bot(b: Bot) -> Json:
    c = b.config
    return {
        "bot_name": c.bot_name,
        "symbol": c.symbol,
        "tradingview_ticker": c.ticker,
        "broker_account": c.broker_account.value,
        "mode": c.mode.value,
        "is_active": c.is_active,
        "paused": b.paused,
        "paused_reason": b.paused_reason,
        "needs_attention": b.needs_attention,
        "attention_reason": b.attention_reason,
        "webhook_key_hint": b.webhook_key_hint,
        "requires_passphrase": b.passphrase_hash is not None,
        "requires_signature": bool(b.signing_secret),
        "strategy_type": c.strategy_type,
        "timeframe": c.timeframe,
        "base_position_size": c.base_position_size,
        "max_positions": c.max_positions,
        "allow_pyramiding": c.allow_pyramiding,
        "exit_on_opposite_signal": c.exit_on_opposite_signal,
        "stop_loss_pct": dec(c.stop_loss_pct),
        "take_profit_pct": dec(c.take_profit_pct),
        "approval_timeout_minutes": c.approval_timeout_minutes,
        "max_signal_age_seconds": c.max_signal_age_seconds,
        "max_slippage_pct": dec(c.max_slippage_pct),
        "max_daily_loss": dec(c.max_daily_loss),
    }


def event(seq: int, e: Event) -> Json:
    return {
        "seq": seq,
        "kind": e.kind,
        "at": iso(e.at),
        "severity": e.severity.value,
        "bot_name": e.bot_name,
        "signal_id": e.signal_id,
        "text": e.text(),
    }


def entry(e: Entry) -> Json:
    return {"quantity": e.quantity, "price": dec(e.price), "time": iso(e.time)}


def position(p: PositionView) -> Json:
    return {
        "bot_name": p.bot_name,
        "symbol": p.symbol,
        "side": p.side.value if p.side else None,
        "quantity": p.quantity,
        "average_price": dec(p.average_price),
        "entries": [entry(e) for e in p.entries],
        "max_positions": p.max_positions,
        "stop_loss": dec(p.stop_loss),
        "take_profit": dec(p.take_profit),
        "last_price": dec(p.last_price),
        "unrealized_pnl": dec(p.unrealized_pnl),
        "realized_pnl": dec(p.realized_pnl),
        "currency": p.currency,
    }


def trade(t: TradeRecord) -> Json:
    return {
        "id": t.id,
        "bot_name": t.bot_name,
        "symbol": t.symbol,
        "side": t.side.value,
        "quantity": t.quantity,
        "entry_price": dec(t.entry_price),
        "exit_price": dec(t.exit_price),
        "realized_pnl": dec(t.realized_pnl),
        "opened_at": iso(t.opened_at),
        "closed_at": iso(t.closed_at),
        "position_closed": t.position_closed,
        "signal_id": t.signal_id,
        "client_order_id": t.client_order_id,
    }


def edits(e: SignalEdits | None) -> Json | None:
    if e is None:
        return None
    return {
        "quantity": e.quantity,
        "order_type": e.order_type.value if e.order_type else None,
        "limit_price": dec(e.limit_price),
        "stop_loss": dec(e.stop_loss),
        "take_profit": dec(e.take_profit),
    }


def state_change(c: StateChange) -> Json:
    return {"state": c.state.value, "at": iso(c.at), "cause": c.cause, "reason": c.reason}


def signal(s: StoredSignal) -> Json:
    sig = s.signal
    return {
        "id": s.id,
        "bot_name": s.bot_name,
        "action": sig.action.value,
        "state": s.state.value,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "reason": s.reason,
        "price": dec(sig.price),
        "quantity": sig.quantity,
        "stop_loss": dec(sig.stop_loss),
        "take_profit": dec(sig.take_profit),
        "order_type": sig.order_type.value,
        "alert_time": iso(sig.time),
        "ticker": sig.ticker,
        "alert_id": sig.alert_id,
        "message": sig.message,
        "edits": edits(s.edits),
        "history": [state_change(c) for c in s.history],
    }


def order(o: OrderRecord) -> Json:
    return {
        "client_order_id": o.client_order_id,
        "leg_index": o.leg_index,
        "leg_kind": o.leg_kind.value,
        "position_side": o.position_side.value,
        "symbol": o.symbol,
        "side": o.side.value,
        "quantity": o.quantity,
        "type": o.type.value,
        "limit_price": dec(o.limit_price),
        "reduce_only": o.reduce_only,
        "status": o.status.value,
        "broker_order_id": o.broker_order_id,
        "filled_quantity": o.filled_quantity,
        "average_fill_price": dec(o.average_fill_price),
        "error": o.error,
        "created_at": iso(o.created_at),
        "updated_at": iso(o.updated_at),
    }


def approval(a: ApprovalRecord | None) -> Json | None:
    if a is None:
        return None
    return {
        "requested_at": iso(a.requested_at),
        "expires_at": iso(a.expires_at),
        "decision": a.decision.value if a.decision else None,
        "decided_by": a.decided_by,
        "decided_at": iso(a.decided_at),
        "edits": edits(a.edits),
        "edited_by": a.edited_by,
    }


def signal_detail(v: SignalView) -> Json:
    return signal(v.signal) | {"orders": [order(o) for o in v.orders], "approval": approval(v.approval)}


def action_result(r: ActionResult) -> Json:
    return {
        "ok": r.ok,
        "code": r.code,
        "message": r.message,
        "signal": signal(r.signal) if r.signal is not None else None,
    }


def control(c: ControlState) -> Json:
    return {"halted": c.halted, "halted_by": c.halted_by, "halted_at": iso(c.halted_at), "reason": c.reason}
