"""The desk: the one object the front-ends (Discord, the web API) call.

It holds no rules of its own: each call goes to the use case that owns it (decisions,
commands, queries, repairs, orders). The runner calls its use cases itself.
"""

from __future__ import annotations

from datetime import datetime

from trading.domain.manual import OrderTicket
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
from trading.services.actions import ActionResult, Actor, DeskAPI, OrderPreview
from trading.services.use_cases import UseCases


class Desk(DeskAPI):
    def __init__(self, use_cases: UseCases) -> None:
        """Built by the bootstrap (trading/services/bootstrap.py)."""
        self.decisions = use_cases.decisions
        self.commands = use_cases.commands
        self.queries = use_cases.queries
        self.repairs = use_cases.repairs
        self.orders = use_cases.orders

    # ------------------------------------------------------------------ decisions

    async def approve(self, signal_id: int, actor: Actor, edits: SignalEdits | None = None) -> ActionResult:
        return await self.decisions.approve(signal_id, actor, edits)

    async def reject(self, signal_id: int, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self.decisions.reject(signal_id, actor, reason)

    async def edit(self, signal_id: int, actor: Actor, edits: SignalEdits) -> ActionResult:
        return await self.decisions.edit(signal_id, actor, edits)

    async def record_card_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        await self.decisions.record_card_message(signal_id, channel_id, message_id)

    # ------------------------------------------------------------------ commands

    async def close_position(self, bot_name: str, actor: Actor) -> ActionResult:
        return await self.commands.close_position(bot_name, actor)

    async def pause(self, bot_name: str, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self.commands.pause(bot_name, actor, reason)

    async def resume(self, bot_name: str, actor: Actor) -> ActionResult:
        return await self.commands.resume(bot_name, actor)

    async def repair(self, bot_name: str, action: str, actor: Actor) -> ActionResult:
        return await self.repairs.repair(bot_name, action, actor)

    async def set_mode(self, bot_name: str, mode: Mode, actor: Actor) -> ActionResult:
        return await self.commands.set_mode(bot_name, mode, actor)

    async def halt(self, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self.commands.halt(actor, reason)

    async def resume_all(self, actor: Actor) -> ActionResult:
        return await self.commands.resume_all(actor)

    # ------------------------------------------------------------------ a person's own orders

    async def preview_order(self, ticket: OrderTicket, actor: Actor) -> OrderPreview:
        return await self.orders.preview_order(ticket, actor)

    async def place_order(self, ticket: OrderTicket, actor: Actor) -> ActionResult:
        return await self.orders.place_order(ticket, actor)

    async def cancel_order(self, client_order_id: str, actor: Actor) -> ActionResult:
        return await self.orders.cancel_order(client_order_id, actor)

    # ------------------------------------------------------------------ queries

    async def bots(self) -> list[Bot]:
        return await self.queries.bots()

    async def control(self) -> ControlState:
        return await self.queries.control()

    async def positions(self, bot_name: str | None = None) -> list[PositionView]:
        return await self.queries.positions(bot_name)

    async def trades(self, bot_name: str | None = None, limit: int = 20) -> list[TradeRecord]:
        return await self.queries.trades(bot_name, limit)

    async def pnl(self, bot_name: str | None = None, since: datetime | None = None) -> PnlView:
        return await self.queries.pnl(bot_name, since)

    async def signals(
        self, bot_name: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredSignal]:
        return await self.queries.signals(bot_name, state, limit)

    async def signal_view(self, signal_id: int) -> SignalView | None:
        return await self.queries.signal_view(signal_id)

    async def approval_card(self, signal_id: int) -> ApprovalCard | None:
        return await self.queries.approval_card(signal_id)

    async def unfinished(self) -> tuple[int, int]:
        """(signals in flight: received, approved, queued or executing; cards awaiting approval)."""
        return await self.queries.unfinished()

    # ------------------------------------------------------------------ the web desk's pages

    async def signal_list(
        self,
        bot_name: str | None = None,
        state: str | None = None,
        *,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[StoredSignal]:
        return await self.queries.signal_list(bot_name, state, limit=limit, before_id=before_id)

    async def pending_cards(self) -> list[ApprovalCard]:
        return await self.queries.pending_cards()

    async def recent_decisions(self, since: datetime, limit: int = 50) -> list[DecisionView]:
        return await self.queries.recent_decisions(since, limit)

    async def bot_statuses(self, now: datetime) -> list[BotStatus]:
        return await self.queries.bot_statuses(now)

    async def accounts(self) -> list[AccountView]:
        return await self.queries.accounts()

    async def trades_report(self, *, since: datetime | None = None, recent: int = 50) -> TradesReport:
        return await self.queries.trades_report(since=since, recent=recent)

    async def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        return await self.queries.audit_log(limit)

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
        return await self.queries.webhook_log(
            bot_name, status=status, since=since, until=until, before_id=before_id, limit=limit
        )
