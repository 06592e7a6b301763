"""The service layer's front door: every front-end (web, Discord, CLI) calls a Desk method.

Front-ends decide who the actor is and whether they may approve (Discord roles, the API
token); the Desk enforces it, records it in the audit log and answers in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trading.domain.manual import OrderTicket
from trading.domain.records import Bot, ControlState, SignalEdits, StoredSignal, TradeRecord
from trading.domain.values import Mode
from trading.domain.views import ApprovalCard, PnlView, PositionView, SignalView


@dataclass(frozen=True, slots=True)
class Actor:
    id: str  # "discord:1234", "api", "cli", "monitor", "expiry"
    name: str  # for display: "alice", "API", ...
    can_approve: bool  # decided by the front-end; the Desk refuses and audits when False


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str  # one sentence for an ephemeral reply or a JSON "message"
    # ok | forbidden | not_found | already_decided | not_pending | invalid | halted | refused | failed
    # | no_mismatch (a repair with nothing to repair) | busy (a signal is executing; try again)
    # | broker_unavailable (the broker did not answer) | no_price (nothing to book a difference at)
    code: str = "ok"
    signal: StoredSignal | None = None


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """A free-form order as it would be placed now: its card (state "preview"), or the
    refusal it would get."""

    result: ActionResult
    card: ApprovalCard | None = None


class DeskAPI:
    """What the front-ends may call. `trading.services.desk.Desk` implements it; tests may fake it."""

    async def approve(self, signal_id: int, actor: Actor, edits: SignalEdits | None = None) -> ActionResult:
        """First decision wins; queues the signal for execution and returns at once."""
        raise NotImplementedError

    async def reject(self, signal_id: int, actor: Actor) -> ActionResult:
        raise NotImplementedError

    async def edit(self, signal_id: int, actor: Actor, edits: SignalEdits) -> ActionResult:
        """Store an approver's edits; the signal stays pending and the card shows them."""
        raise NotImplementedError

    async def close_position(self, bot_name: str, actor: Actor) -> ActionResult:
        """Close the bot's whole position through the normal path (a synthetic signal)."""
        raise NotImplementedError

    async def preview_order(self, ticket: OrderTicket, actor: Actor) -> OrderPreview:
        """The plan a free-form order would make now, for a confirm step; nothing stored."""
        raise NotImplementedError

    async def place_order(self, ticket: OrderTicket, actor: Actor) -> ActionResult:
        """A free-form order: a signal of source manual, queued at once through the engine."""
        raise NotImplementedError

    async def cancel_order(self, client_order_id: str, actor: Actor) -> ActionResult:
        """Cancel a resting order; ends with the broker's truth (a fill that raced it is kept)."""
        raise NotImplementedError

    async def pause(self, bot_name: str, actor: Actor, reason: str | None = None) -> ActionResult:
        raise NotImplementedError

    async def repair(self, bot_name: str, action: str, actor: Actor) -> ActionResult:
        """Repair a position mismatch on the bot's symbol: "adopt" (the bot takes the broker's
        side of the difference) or "flatten" (the broker's net is closed, every bot on the
        symbol set flat). Clears 'needs attention' on the symbol's bots."""
        raise NotImplementedError

    async def resume(self, bot_name: str, actor: Actor) -> ActionResult:
        """Unpause and clear 'needs attention'."""
        raise NotImplementedError

    async def set_mode(self, bot_name: str, mode: Mode, actor: Actor) -> ActionResult:
        raise NotImplementedError

    async def halt(self, actor: Actor, reason: str | None = None) -> ActionResult:
        """Kill switch: no new entries anywhere, closes still allowed, approvals frozen."""
        raise NotImplementedError

    async def resume_all(self, actor: Actor) -> ActionResult:
        raise NotImplementedError

    async def positions(self, bot_name: str | None = None) -> list[PositionView]:
        raise NotImplementedError

    async def trades(self, bot_name: str | None = None, limit: int = 20) -> list[TradeRecord]:
        raise NotImplementedError

    async def pnl(self, bot_name: str | None = None, since: datetime | None = None) -> PnlView:
        raise NotImplementedError

    async def bots(self) -> list[Bot]:
        raise NotImplementedError

    async def signals(
        self, bot_name: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredSignal]:
        raise NotImplementedError

    async def signal_view(self, signal_id: int) -> SignalView | None:
        raise NotImplementedError

    async def approval_card(self, signal_id: int) -> ApprovalCard | None:
        raise NotImplementedError

    async def record_card_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        raise NotImplementedError

    async def control(self) -> ControlState:
        raise NotImplementedError
