"""The use cases for the Discord tests, in one fake: it keeps cards in memory, enforces what
the real use cases enforce at the front-end's boundary (can_approve, first decision wins,
pending only), records every call, and publishes the events the real ones would, to the sink.
`use_cases()` hands it to the Discord face as each of the use cases the face calls."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading.domain.config import BotConfig
from trading.domain.events import (
    ApprovalDecided,
    ApprovalReminder,
    ApprovalRequested,
    BotStateChanged,
    Event,
    HaltChanged,
)
from trading.domain.records import ApprovalRecord, Bot, ControlState, Decision, SignalEdits, StoredSignal, TradeRecord
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalState
from trading.domain.values import Mode, OrderType, PositionSide
from trading.domain.views import ApprovalCard, PnlView, PositionView, SignalView
from trading.services.actions import ActionResult, Actor
from trading.services.ports import Notifier
from trading.services.use_cases import UseCases


def make_card(signal_id: int, **over: Any) -> ApprovalCard:
    now = datetime.now(UTC)
    base = ApprovalCard(
        signal_id=signal_id,
        bot_name="SA40_RSI_Bot",
        symbol="SA40",
        action="enter_long",
        plan_summary="open",
        ignored_reason=None,
        quantity=1,
        order_type=OrderType.MARKET,
        limit_price=None,
        alert_price=Decimal("53210.5"),
        quote=Decimal("53230.0"),
        drift_pct=Decimal("0.0366"),
        stop_loss=Decimal("52600.5"),
        take_profit=Decimal("54150"),
        risk_to_stop=Decimal("610.00"),
        currency="ZAR",
        position_before="flat",
        position_after="long 1 @ 53,230.0",
        tick_size=Decimal("0.5"),
        expires_at=now + timedelta(minutes=15),
        state="pending_approval",
        edits=None,
        edited_by=None,
        decided_by=None,
        decided_at=None,
        outcome=None,
    )
    return replace(base, **over)


def make_bot(name: str = "SA40_RSI_Bot", **over: Any) -> Bot:
    config = BotConfig(bot_name=name, symbol="SA40", webhook_key="sa40_rsi_50849a3c", mode=Mode.APPROVE)
    return Bot(id=1, config=config, webhook_key_hash="h", webhook_key_hint="****a3c", **over)


class FakeDesk:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.cards: dict[int, ApprovalCard] = {}
        self.card_messages: dict[int, tuple[int, int]] = {}
        self.audit: list[tuple[str, str, bool]] = []  # (actor id, action, allowed)
        self.notifier: Notifier | None = None
        self.approve_delay = 0.0
        self.bot_list: list[Bot] = [make_bot()]
        self.position_list: list[PositionView] = []
        self.trade_list: list[TradeRecord] = []
        self.pnl_view = PnlView(None, None, Decimal("1250.5"), Decimal("-80"), 4, 3, 1, "ZAR")
        self.control_state = ControlState()

    def use_cases(self) -> UseCases:
        """This fake as every use case the Discord face calls (decisions, commands, queries,
        repairs, orders); the runner's are not the face's."""
        fake: Any = self
        return UseCases(None, None, fake, fake, fake, None, None, fake, fake)  # type: ignore[arg-type]

    def calls_of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]

    async def _publish(self, event: Event) -> None:
        if self.notifier is not None:
            await self.notifier.publish(event)

    async def request_approval(self, card: ApprovalCard) -> None:
        """What the real Desk does when an approve-mode signal arrives."""
        self.cards[card.signal_id] = card
        await self._publish(
            ApprovalRequested(
                at=datetime.now(UTC), bot_name=card.bot_name, signal_id=card.signal_id, expires_at=card.expires_at
            )
        )

    async def remind(self, signal_id: int) -> None:
        """What the real Desk does half way to a card's expiry."""
        card = self.cards[signal_id]
        await self._publish(
            ApprovalReminder(
                at=datetime.now(UTC),
                bot_name=card.bot_name,
                signal_id=signal_id,
                expires_at=card.expires_at or datetime.now(UTC),
            )
        )

    async def expire(self, signal_id: int) -> None:
        card = self.cards[signal_id]
        self.cards[signal_id] = replace(card, state="expired", decided_by="expiry", decided_at=datetime.now(UTC))
        await self._publish(
            ApprovalDecided(
                at=datetime.now(UTC), bot_name=card.bot_name, signal_id=signal_id, decision="expired", by="expiry"
            )
        )

    def _refuse(self, actor: Actor, action: str) -> ActionResult | None:
        self.audit.append((actor.id, action, actor.can_approve))
        if not actor.can_approve:
            return ActionResult(False, f"{actor.name} may not {action}: approvers only.", "forbidden")
        return None

    async def _decide(self, signal_id: int, actor: Actor, decision: str) -> ActionResult:
        if (refused := self._refuse(actor, decision)) is not None:
            return refused
        card = self.cards.get(signal_id)
        if card is None:
            return ActionResult(False, f"No signal #{signal_id}.", "not_found")
        if card.state != "pending_approval":
            return ActionResult(
                False, f"Signal #{signal_id} was already {card.state} by {card.decided_by}.", "already_decided"
            )
        outcome = f"filled {card.quantity} @ 53231" if decision == "approve" else None
        state = "executed" if decision == "approve" else "rejected"
        self.cards[signal_id] = replace(
            card, state=state, decided_by=actor.name, decided_at=datetime.now(UTC), outcome=outcome
        )
        await self._publish(
            ApprovalDecided(
                at=datetime.now(UTC), bot_name=card.bot_name, signal_id=signal_id, decision=state, by=actor.name
            )
        )
        return ActionResult(True, f"Signal #{signal_id} {decision.rstrip('e')}ed.", "ok")

    async def approve(
        self, signal_id: int, actor: Actor, edits: SignalEdits | None = None, accounts: list[str] | None = None
    ) -> ActionResult:
        self.calls.append(("approve", (signal_id, actor, edits)))
        if accounts is not None:
            self.calls.append(("approve_accounts", (signal_id, tuple(accounts))))
        if self.approve_delay:
            await asyncio.sleep(self.approve_delay)
        return await self._decide(signal_id, actor, "approve")

    async def reject(self, signal_id: int, actor: Actor, reason: str | None = None) -> ActionResult:
        self.calls.append(("reject", (signal_id, actor, reason)))
        return await self._decide(signal_id, actor, "reject")

    async def edit(
        self, signal_id: int, actor: Actor, edits: SignalEdits, quantities: dict[str, int] | None = None
    ) -> ActionResult:
        self.calls.append(("edit", (signal_id, actor, edits)))
        if quantities is not None:
            self.calls.append(("edit_quantities", (signal_id, dict(quantities))))
        if (refused := self._refuse(actor, "edit")) is not None:
            return refused
        card = self.cards.get(signal_id)
        if card is None or card.state != "pending_approval":
            return ActionResult(False, f"Signal #{signal_id} is not pending.", "not_pending")
        new = replace(card, edits=edits, edited_by=actor.name)
        for name in ("quantity", "order_type", "limit_price", "stop_loss", "take_profit"):
            if getattr(edits, name) is not None:
                new = replace(new, **{name: getattr(edits, name)})
        self.cards[signal_id] = new
        return ActionResult(True, f"Signal #{signal_id} edited; it waits for approval.", "ok")

    async def close_position(self, bot_name: str, actor: Actor, account: str | None = None) -> ActionResult:
        self.calls.append(("close_position", (bot_name, actor, account)))
        return self._refuse(actor, "close") or ActionResult(True, f"Closing {bot_name}: signal #99 queued.")

    async def pause(self, bot_name: str, actor: Actor, reason: str | None = None) -> ActionResult:
        self.calls.append(("pause", (bot_name, actor, reason)))
        if (refused := self._refuse(actor, "pause")) is not None:
            return refused
        await self._publish(BotStateChanged(at=datetime.now(UTC), bot_name=bot_name, change="paused", by=actor.name))
        return ActionResult(True, f"{bot_name} paused.")

    async def resume(self, bot_name: str, actor: Actor) -> ActionResult:
        self.calls.append(("resume", (bot_name, actor)))
        return self._refuse(actor, "resume") or ActionResult(True, f"{bot_name} resumed.")

    async def set_mode(self, bot_name: str, mode: Mode, actor: Actor) -> ActionResult:
        self.calls.append(("set_mode", (bot_name, mode, actor)))
        return self._refuse(actor, "set mode") or ActionResult(True, f"{bot_name} is now in {mode.value} mode.")

    async def halt(self, actor: Actor, reason: str | None = None) -> ActionResult:
        self.calls.append(("halt", (actor, reason)))
        if (refused := self._refuse(actor, "halt")) is not None:
            return refused
        self.control_state = ControlState(True, actor.name, datetime.now(UTC), reason)
        await self._publish(HaltChanged(at=datetime.now(UTC), halted=True, by=actor.name, reason=reason))
        return ActionResult(True, "Trading halted.")

    async def pause_account(self, account: str, actor: Actor, reason: str | None = None) -> ActionResult:
        self.calls.append(("pause_account", (account, actor, reason)))
        return self._refuse(actor, "pause-account") or ActionResult(True, f"account {account} paused.")

    async def resume_account(self, account: str, actor: Actor) -> ActionResult:
        self.calls.append(("resume_account", (account, actor)))
        return self._refuse(actor, "resume-account") or ActionResult(True, f"account {account} resumed.")

    async def resume_all(self, actor: Actor) -> ActionResult:
        self.calls.append(("resume_all", (actor,)))
        return self._refuse(actor, "resume all") or ActionResult(True, "Trading resumed.")

    async def positions(self, bot_name: str | None = None, account: str | None = None) -> list[PositionView]:
        self.calls.append(("positions", (bot_name, account)))
        return [p for p in self.position_list if bot_name in (None, p.bot_name) and account in (None, p.account)]

    async def trades(self, bot_name: str | None = None, limit: int = 20) -> list[TradeRecord]:
        self.calls.append(("trades", (bot_name, limit)))
        return [t for t in self.trade_list if bot_name in (None, t.bot_name)][:limit]

    async def pnl(
        self, bot_name: str | None = None, since: datetime | None = None, account: str | None = None
    ) -> PnlView:
        self.calls.append(("pnl", (bot_name, since, account)))
        return replace(self.pnl_view, bot_name=bot_name, since=since)

    async def bots(self) -> list[Bot]:
        self.calls.append(("bots", ()))
        return self.bot_list

    async def signals(
        self, bot_name: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredSignal]:
        return []

    async def signal_view(self, signal_id: int) -> SignalView | None:
        self.calls.append(("signal_view", (signal_id,)))
        card = self.cards.get(signal_id)
        if card is None:
            return None
        now = datetime.now(UTC)
        stored = StoredSignal(
            id=signal_id,
            bot_id=1,
            bot_name=card.bot_name,
            signal=Signal(SignalAction(card.action), card.alert_price, AlertShape.RSI),
            state=SignalState(card.state),
            created_at=now,
            updated_at=now,
        )
        where = self.card_messages.get(signal_id)
        approval = ApprovalRecord(
            signal_id=signal_id,
            requested_at=now,
            expires_at=card.expires_at or now,
            channel_id=where[0] if where else None,
            message_id=where[1] if where else None,
            decision=Decision(card.state) if card.state in ("rejected", "expired") else None,
            decided_by=card.decided_by,
            decided_at=card.decided_at,
        )
        return SignalView(stored, (), approval)

    async def approval_card(self, signal_id: int) -> ApprovalCard | None:
        self.calls.append(("approval_card", (signal_id,)))
        return self.cards.get(signal_id)

    async def card_owner(self, signal_id: int) -> int:
        card = self.cards.get(signal_id)
        return card.card_of if card is not None and card.card_of is not None else signal_id

    async def record_card_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        self.calls.append(("record_card_message", (signal_id, channel_id, message_id)))
        self.card_messages[signal_id] = (channel_id, message_id)

    async def control(self) -> ControlState:
        return self.control_state


def sample_position(**over: Any) -> PositionView:
    base = PositionView(
        bot_name="SA40_RSI_Bot",
        symbol="SA40",
        side=PositionSide.LONG,
        quantity=2,
        average_price=Decimal("53210.5"),
        entries=(),
        max_positions=3,
        stop_loss=Decimal("52600"),
        take_profit=None,
        last_price=Decimal("53300"),
        unrealized_pnl=Decimal("179"),
        realized_pnl=Decimal("0"),
        currency="ZAR",
        tick_size=Decimal("0.5"),
        account="Paper",
    )
    return replace(base, **over)
