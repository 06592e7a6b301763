"""The service layer's front door: every front-end (web, Discord, CLI) calls a Desk method.

Front-ends decide who the actor is and what they may do: a person signed in on the web or
holding an API token carries their role (viewer, approver, admin); Discord decides
`can_approve` from its approver roles. The Desk enforces it, records every act (allowed or
refused) in the audit log with the actor's id, and answers in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trading.domain.manual import OrderTicket
from trading.domain.people import Role
from trading.domain.records import (
    AuditEntry,
    Bot,
    ControlState,
    SignalEdits,
    StoredSignal,
    TradeRecord,
    WebhookLogEntry,
)
from trading.domain.values import Mode
from trading.domain.views import (
    AccountView,
    ApprovalCard,
    BotStatus,
    DecisionView,
    PnlView,
    PositionView,
    SignalView,
    TradesReport,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts. `id` goes into the audit log: "web:alice", "api:alice", "api:break-glass",
    "discord:1234", "cli", "monitor", "expiry".

    With a `role` (people of the web desk and their API tokens) the role decides, and
    `can_approve` follows from it. Without one (Discord, the desk's own workers)
    `can_approve` is the front-end's whole rule: an approver may do every desk command,
    as Discord's approver roles always could.
    """

    id: str
    name: str  # for display: "alice", "API", ...
    can_approve: bool = False
    role: Role | None = None

    def __post_init__(self) -> None:
        if self.role is not None:
            object.__setattr__(self, "can_approve", self.role.includes(Role.APPROVER))

    @classmethod
    def person(cls, via: str, name: str, role: Role) -> Actor:
        """A person acting through `via` ("web" or "api"): id "web:alice"."""
        return cls(f"{via}:{name}", name, role=role)

    def may(self, need: Role) -> bool:
        """Whether this actor may do what `need` allows."""
        if self.role is not None:
            return self.role.includes(need)
        return need is Role.VIEWER or self.can_approve


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

    async def reject(self, signal_id: int, actor: Actor, reason: str | None = None) -> ActionResult:
        """`reason`: optional, the approver's words (kept in the audit, on the signal and the card)."""
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

    # ---- the web desk's pages

    async def signal_list(
        self,
        bot_name: str | None = None,
        state: str | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[StoredSignal]:
        """Signals newest first, without their state histories."""
        raise NotImplementedError

    async def pending_cards(self) -> list[ApprovalCard]:
        raise NotImplementedError

    async def recent_decisions(self, since: datetime, limit: int = 50) -> list[DecisionView]:
        """Approvals decided since `since`, newest first."""
        raise NotImplementedError

    async def bot_statuses(self, now: datetime) -> list[BotStatus]:
        raise NotImplementedError

    async def accounts(self) -> list[AccountView]:
        """Balance and equity of each broker account the bots trade on, read now."""
        raise NotImplementedError

    async def trades_report(self, *, since: datetime | None = None, recent: int = 50) -> TradesReport:
        raise NotImplementedError

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        raise NotImplementedError

    async def webhook_log(
        self,
        bot_name: str | None = None,
        *,
        status: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[WebhookLogEntry]:
        raise NotImplementedError

    async def control(self) -> ControlState:
        raise NotImplementedError
