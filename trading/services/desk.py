"""The desk: the one object the front-ends (Discord, the web API) and the runner call.

It holds no rules of its own: each call goes to the use case that owns it (decisions,
commands, queries, monitors, reconciliation, execution), all sharing one Context.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
from trading.domain.signals import SignalState
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
from trading.services.commands import Commands
from trading.services.context import Context
from trading.services.decisions import Decisions
from trading.services.execution import READY, Footing, RunResult
from trading.services.monitors import Monitors
from trading.services.orders import Orders
from trading.services.queries import Queries
from trading.services.reconciliation import Reconciliation
from trading.services.repair import Repairs

log = logging.getLogger("signaldesk.runner")


class Desk(DeskAPI):
    def __init__(self, ctx: Context) -> None:
        """Built by the bootstrap (trading/services/bootstrap.py) from the one Context."""
        self._ctx = ctx
        self.executor = ctx.executor
        self.decisions = Decisions(ctx)
        self.commands = Commands(ctx)
        self.queries = Queries(ctx)
        self.monitors = Monitors(ctx)
        self.reconciliation = Reconciliation(ctx)
        self.repairs = Repairs(ctx)
        self.orders = Orders(ctx)

    # ------------------------------------------------------------------ the runner's

    async def advance(self, signal_id: int) -> RunResult:
        """Move a stored signal as far as it can go now: one try (the runner's lane of the
        signal's bot calls this, and tries again later when the result is not finished)."""
        async with self._ctx.uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id, history=False)
            bot = await uow.bots.get(stored.bot_id) if stored else None
        if stored is None or bot is None:
            return RunResult(True, note="no such signal")
        async with self._ctx.locks.of(bot.id):
            return await self._run(stored, bot)

    async def run_next(
        self, bot_id: int, states: Sequence[SignalState], *, finished: int | None = None
    ) -> tuple[int, RunResult | None] | None:
        """One try at the bot's oldest signal in one of `states` (the runner's lane): the
        signal, its bot and what its start needs are read in one read, under the bot's lock,
        then the signal is moved as far as it can go now. (its id, the result); the result is
        None when it is the signal `finished` (reported finished, yet still the oldest);
        None when the bot has no such signal."""
        async with self._ctx.locks.of(bot_id):
            async with self._ctx.uow(read_only=True) as uow:
                stored = await uow.signals.oldest(bot_id, states)
                bot = await uow.bots.get(bot_id) if stored is not None else None
                if stored is None or bot is None:
                    return None
                if stored.id == finished:
                    return stored.id, None
                starts = stored.state in READY and not (
                    stored.state is SignalState.RECEIVED and bot.config.mode is Mode.APPROVE
                )
                footing = await self.executor.read_footing(uow, stored, bot) if starts else None
            try:
                return stored.id, await self._run(stored, bot, footing)
            except Exception:
                # A bug or an outage: the signal stays where it is, holding its bot's place.
                log.exception("signal %s: unexpected error; will retry", stored.id)
                return stored.id, RunResult(False)

    async def _run(self, stored: StoredSignal, bot: Bot, footing: Footing | None = None) -> RunResult:
        """One try at a signal, the bot's lock held (reconciliation and repair take it too,
        so that no fill lands between their reading the broker and their reading us).
        `footing`: what its start needs, when read under this same hold of the lock."""
        if stored.state is SignalState.RECEIVED and bot.config.mode is Mode.APPROVE:
            await self.decisions.request_approval(stored, bot)
            return RunResult(True, note="awaiting approval")
        return await self.executor.run_stored(stored, bot, footing)

    async def expire_due(self) -> list[int]:
        """The runner's approval check: reminds the approvers of a card half way to its expiry
        (once), then expires the cards past it; returns the expired signal ids."""
        return await self.decisions.run_due()

    async def check_exits(self) -> list[int]:
        return await self.monitors.check_exits()

    async def reconcile(self, *, only_bot: int | None = None) -> list[str]:
        return await self.reconciliation.reconcile(only_bot=only_bot)

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
