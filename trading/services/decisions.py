"""Approvals: asking for one, deciding (approve, edit, reject), and expiry.

The first decision wins; every decision is audited with who made it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from trading.domain import display
from trading.domain.approval_decay import drift_expiry, timeout_reason
from trading.domain.approval_scope import split_close_id, split_close_message, split_reason
from trading.domain.events import (
    ApprovalDecided,
    ApprovalProgress,
    ApprovalReminder,
    ApprovalRequested,
    Event,
    Notice,
)
from trading.domain.legs import account_of, on_account
from trading.domain.levels import level_problem, price_problem
from trading.domain.people import Role
from trading.domain.position import Position
from trading.domain.quantities import whole_contracts_refusal
from trading.domain.records import (
    ApprovalRecord,
    AuditEntry,
    Bot,
    Decision,
    SignalEdits,
    StateChange,
    StoredSignal,
)
from trading.domain.signals import Signal, SignalAction, SignalSource, SignalState
from trading.domain.values import OrderType
from trading.domain.wording import actor_words, clean_reason, state_words
from trading.services.actions import ActionResult, Actor
from trading.services.context import Context, UseCase
from trading.services.ports import UnitOfWork
from trading.services.positions import position_of
from trading.services.second_approval import second_approval_of
from trading.services.synthetic import store_queued
from trading.services.transitions import move_signal, set_signal_state

# How often pending cards of bots with approval_max_drift_pct are held against the quote.
DRIFT_CHECK = timedelta(seconds=2)

# Who stores the close of a reversal split in approve-entries mode.
ENGINE = Actor("engine", "approve entries", True)

# How often the due check reads the pending approvals when nothing is due: the safety net
# for approvals asked for elsewhere (another process on the same database).
DUE_REFRESH = timedelta(seconds=60)


class Decisions(UseCase):
    """The approval life of a signal."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        # When the next reminder or expiry falls due; None: read the pending cards at the next check.
        self._next_due: datetime | None = None
        self._watching_drift = False  # a pending card's bot has approval_max_drift_pct

    async def run_due(self) -> list[int]:
        """The runner's periodic check: reminds the approvers of a card half way to its
        expiry (once), then expires the cards past it; the expired signal ids. Reads the
        pending cards only when one falls due (or a new card was asked for), so an idle desk
        reads nothing."""
        now = self._clock.now()
        if self._next_due is not None and now < self._next_due:
            return []
        self._next_due = now + DUE_REFRESH
        async with self._uow(read_only=True) as uow:
            pending = await uow.approvals.list_pending()
        await self.remind_due(pending)
        expired = await self.expire_due(pending)
        expired += await self.expire_drifted([a for a in pending if a.signal_id not in expired])
        if self._watching_drift:
            self._next_due = min(self._next_due, now + DRIFT_CHECK)
        for approval in pending:
            if approval.signal_id in expired or approval.expires_at <= now:
                continue
            halfway = approval.requested_at + (approval.expires_at - approval.requested_at) / 2
            due = halfway if approval.reminded_at is None and now < halfway else approval.expires_at
            self._next_due = min(self._next_due, due)
        return expired

    async def request_approval(self, stored: StoredSignal, bot: Bot, close_first: Position | None = None) -> None:
        """The signal waits on a card. `close_first`: the open position a reversal in
        approve-entries mode closes at once (a close signal stored with the card, in one
        transaction, run next by the bot's lane); the card then holds the new entry only."""
        now = self._clock.now()
        expires = stored.created_at + timedelta(minutes=bot.config.approval_timeout_minutes)
        async with self._uow() as uow:
            why = None
            if close_first is not None and close_first.side is not None:
                # A close of its own: nothing of the entry's (levels, quantity, the position a
                # strategy alert says it holds after the entry) belongs to it.
                entry = stored.signal
                message = split_close_message(stored.id)
                close = Signal(
                    action=SignalAction.CLOSE,
                    price=entry.price,
                    shape=entry.shape,
                    time=entry.time,
                    ticker=entry.ticker,
                    message=message,
                    source=SignalSource.COMMAND,
                    account=entry.account,  # a leg's close closes that leg's position
                )
                closing = await store_queued(uow, bot.id, close, ENGINE, now, message)
                why = split_reason(close_first.side, close_first.quantity, closing.id)
            pending = StateChange(SignalState.PENDING_APPROVAL, now, "approve mode", why)
            if not await move_signal(uow, stored.id, [pending], from_state=SignalState.RECEIVED):
                return
            await uow.approvals.create(stored.id, now, expires)
            uow.emit([ApprovalRequested(at=now, bot_name=bot.name, signal_id=stored.id, expires_at=expires)])
            if why is not None:
                uow.emit(
                    [Notice(at=now, bot_name=bot.name, signal_id=stored.id, message=f"signal #{stored.id}: {why}")]
                )
            await uow.commit()
        if why is not None:
            self._wake(bot.id)
        self._next_due = None  # a new card: its reminder and expiry are counted at the next check
        self._publish(uow.emitted)

    async def remind_due(self, pending: list[ApprovalRecord] | None = None) -> list[int]:
        """Pending approvals half way to their expiry, not reminded yet: the approvers are
        called once more (recorded, so a restart never reminds twice). `pending`: the
        pending cards, when the caller has just read them."""
        now = self._clock.now()
        if pending is None:
            async with self._uow(read_only=True) as uow:
                pending = await uow.approvals.list_pending()
        reminded: list[int] = []
        for approval in pending:
            halfway = approval.requested_at + (approval.expires_at - approval.requested_at) / 2
            if approval.reminded_at is not None or now < halfway or now >= approval.expires_at:
                continue
            async with self._uow() as uow:
                stored = await uow.signals.get(approval.signal_id, history=False)
                if stored is None or stored.state is not SignalState.PENDING_APPROVAL:
                    continue
                if not await uow.approvals.mark_reminded(approval.signal_id, now):
                    continue
                uow.emit(
                    [
                        ApprovalReminder(
                            at=now, bot_name=stored.bot_name, signal_id=stored.id, expires_at=approval.expires_at
                        )
                    ]
                )
                await uow.commit()
            reminded.append(approval.signal_id)
            self._publish(uow.emitted)
        return reminded

    async def expire_due(self, pending: list[ApprovalRecord] | None = None) -> list[int]:
        """Pending approvals past their time become expired and never execute."""
        now = self._clock.now()
        if pending is None:
            async with self._uow(read_only=True) as uow:
                pending = await uow.approvals.list_pending()
        expired: list[int] = []
        for approval in pending:
            if approval.expires_at > now:
                continue
            reason = timeout_reason(approval.expires_at)
            if await self._expire(approval.signal_id, now, reason):
                expired.append(approval.signal_id)
        return expired

    async def expire_drifted(self, pending: list[ApprovalRecord]) -> list[int]:
        """Pending entries of bots with `approval_max_drift_pct` whose quote has moved further
        than that from the alert's price expire now, with the reason, instead of waiting for a
        late click. Whether any pending card is watched so remembers itself for the next check."""
        now = self._clock.now()
        expired: list[int] = []
        self._watching_drift = False
        for approval in pending:
            async with self._uow(read_only=True) as uow:
                stored = await uow.signals.get(approval.signal_id, history=False)
                bot = await uow.bots.get(stored.bot_id) if stored is not None else None
            if stored is None or bot is None or bot.config.approval_max_drift_pct is None:
                continue
            side = stored.signal.action.entry_side
            if side is None or stored.state is not SignalState.PENDING_APPROVAL:
                continue
            self._watching_drift = True
            quote = await self._market.quote(bot)
            if quote is None:
                continue
            instrument = await self._market.instrument_or_none(bot)
            reason = drift_expiry(
                bot.config.approval_max_drift_pct,
                stored.signal.price,
                quote.price_for(side.opening_order_side),
                instrument.tick_size if instrument is not None else None,
            )
            if reason is not None and await self._expire(approval.signal_id, now, reason):
                expired.append(approval.signal_id)
        return expired

    async def _expire(self, signal_id: int, now: datetime, reason: str) -> bool:
        """The pending card expires with `reason` and never executes; whether it did now."""
        async with self._uow() as uow:
            stored = await uow.signals.get(signal_id, for_update=True)
            if stored is None or stored.state is not SignalState.PENDING_APPROVAL:
                return False
            if not await uow.approvals.decide(signal_id, Decision.EXPIRED, "expiry", now):
                return False
            await set_signal_state(uow, signal_id, SignalState.EXPIRED, cause="expiry", at=now, reason=reason)
            uow.emit(
                [
                    ApprovalDecided(
                        at=now, bot_name=stored.bot_name, signal_id=stored.id, decision="expired", by="expiry"
                    )
                ]
            )
            await uow.commit()
        self._publish(uow.emitted)
        return True

    async def approve(
        self,
        signal_id: int,
        actor: Actor,
        edits: SignalEdits | None = None,
        accounts: Sequence[str] | None = None,
    ) -> ActionResult:
        """Approve the signal; for a bot on several accounts, every leg of its alert still
        waiting (one card per alert), or with `accounts` the legs on those accounts, the
        alert's other legs still pending ending rejected by the approver."""
        if accounts is None:
            waiting = await self._waiting_legs(signal_id)
            if len(waiting) < 2:
                return await self._decide(signal_id, actor, Decision.APPROVED, edits)
            accounts = waiting
        return await self._approve_accounts(signal_id, actor, edits, accounts)

    async def _waiting_legs(self, signal_id: int) -> list[str]:
        return list(await self._waiting_leg_ids(signal_id))

    async def _approve_accounts(
        self, signal_id: int, actor: Actor, edits: SignalEdits | None, accounts: Sequence[str]
    ) -> ActionResult:
        async with self._uow(read_only=True) as uow:
            legs = [s for i in await uow.signals.legs_of(signal_id) if (s := await uow.signals.get(i, history=False))]
            bot = await uow.bots.get(legs[0].bot_id) if legs else None
        if not legs or bot is None:
            return ActionResult(False, f"signal #{signal_id} has no approval request", "not_found")
        by_account = {account_of(s.signal, bot.config): s for s in legs}
        named = {a.lower(): a for a in by_account}
        strangers = [a for a in accounts if a.lower() not in named]
        if strangers or not accounts:
            which = ", ".join(repr(a) for a in strangers) or "no account"
            return ActionResult(
                False,
                f"signal #{signal_id} has no leg on {which} (its accounts: {', '.join(by_account)})",
                "invalid",
            )
        chosen = {named[a.lower()] for a in accounts}
        said: list[str] = []
        approved: StoredSignal | None = None
        # An edited quantity is one account's (each is scaled): this signal's leg, or the one leg approved.
        picked = [by_account[a].id for a in by_account if a in chosen]
        sized = signal_id if signal_id in picked else picked[0] if len(picked) == 1 else None
        if edits is not None and edits.quantity is not None and sized is None:
            return ActionResult(
                False,
                f"a quantity is one account's: edit it on signal #{signal_id}'s card per account, then approve",
                "invalid",
            )
        for account in (a for a in by_account if a in chosen):
            leg = by_account[account]
            result = await self._decide(leg.id, actor, Decision.APPROVED, _leg_edits(edits, leg, sized))
            if not result.ok:
                return replace(result, message=f"account {account}: {result.message}")
            approved = approved or result.signal
            said.append(f"{account}: {result.message}")
        for account in (a for a in by_account if a not in chosen):
            leg = by_account[account]
            if leg.state is not SignalState.PENDING_APPROVAL:
                continue
            why = f"not approved for account {account}"
            result = await self._decide(leg.id, actor, Decision.REJECTED, None, why)
            said.append(f"{account}: {result.message}")
        return ActionResult(True, "; ".join(said), signal=approved)

    async def reject(self, signal_id: int, actor: Actor, reason: str | None = None) -> ActionResult:
        """`reason`: the approver's own words, typed (cleaned and capped here, whatever the
        front-end). For a bot on several accounts every leg of the alert still waiting is
        rejected (one card per alert), this one first."""
        why = clean_reason(reason)
        result = await self._decide(signal_id, actor, Decision.REJECTED, None, why)
        if not result.ok:
            return result
        async with self._uow(read_only=True) as uow:
            ids = await uow.signals.legs_of(signal_id)
            others = [s for i in ids if i != signal_id and (s := await uow.signals.get(i, history=False))]
        said = [result.message]
        for leg in others:
            if leg.state is SignalState.PENDING_APPROVAL and leg.signal.account is not None:
                said.append((await self._decide(leg.id, actor, Decision.REJECTED, None, why)).message)
        return replace(result, message="; ".join(said))

    async def _decide(
        self,
        signal_id: int,
        actor: Actor,
        decision: Decision,
        edits: SignalEdits | None,
        reason: str | None = None,
    ) -> ActionResult:
        verb = "approve" if decision is Decision.APPROVED else "reject"
        target = f"signal:{signal_id}"
        if refused := await self._access.refusal(actor, Role.APPROVER, verb, target, f"{verb} signals"):
            return refused
        if edits is not None:
            problem = await self._check_edits(signal_id, edits)
            if problem:
                return ActionResult(False, problem, "invalid")
        # Read (with the broker's quote and account) before the transaction: whether this
        # plan needs two approvers, by its size and its money at risk as the card shows them.
        second = await self._second_approval(signal_id, edits) if decision is Decision.APPROVED else None
        now = self._clock.now()
        events: list[Event] = []
        async with self._uow() as uow:
            stored = await uow.signals.get(signal_id, for_update=True, history=False)
            approval = await uow.approvals.get(signal_id)
            if stored is None or approval is None:
                return ActionResult(False, f"signal #{signal_id} has no approval request", "not_found")
            if approval.decision is not None:
                by = actor_words(approval.decided_by, approval.decided_by_name)
                return ActionResult(
                    False, f"signal #{signal_id} was already {approval.decision.value} by {by}", "already_decided"
                )
            if stored.state is not SignalState.PENDING_APPROVAL:
                return ActionResult(False, f"signal #{signal_id} is {state_words(stored.state.value)}", "not_pending")
            control = await uow.control.get()
            if control.halted and decision is Decision.APPROVED:
                return ActionResult(
                    False, "trading is halted: approvals are frozen until /resume-all", "halted", stored
                )
            if now >= approval.expires_at:
                return ActionResult(
                    False, f"signal #{signal_id} expired at {approval.expires_at:%H:%M:%S} UTC", "expired"
                )
            closing_id = split_close_id(stored.reason) if decision is Decision.APPROVED else None
            closing = await uow.signals.get(closing_id, history=False) if closing_id is not None else None
            if closing is not None and not closing.state.is_final:
                # The reversal's close runs first; approving now would reverse a second time.
                return ActionResult(
                    False,
                    f"signal #{signal_id} waits for its close (signal #{closing_id}, "
                    f"{state_words(closing.state.value)}) to finish; approve it once that is done",
                    "not_pending",
                )
            first = approval.first_approved_by
            if second is not None and edits is not None and edits != stored.edits and first is not None:
                # Approving a changed trade: the first approval was of another one.
                await uow.approvals.clear_first(signal_id)
                first = None
            if second is not None and first is None:
                return await self._first_of_two(uow, stored, actor, edits, second, now)
            if second is not None and first == actor.id:
                await uow.audit.add(AuditEntry(actor.id, verb, target, False, "already approved 1 of 2", now))
                await uow.commit()
                return ActionResult(
                    False,
                    f"{actor.name} already approved signal #{signal_id} (1 of 2); "
                    "it needs a second approval from a different person",
                    "same_approver",
                )
            if not await uow.approvals.decide(signal_id, decision, actor.id, now, name=actor.name):
                return ActionResult(False, f"signal #{signal_id} was already decided", "already_decided")
            if edits is not None:
                await uow.approvals.set_edits(signal_id, edits, actor.id)
                await uow.signals.set_edits(signal_id, edits)
            state = SignalState.APPROVED if decision is Decision.APPROVED else SignalState.REJECTED
            await set_signal_state(uow, signal_id, state, cause=actor.id, at=now, reason=reason)
            updated = await uow.signals.get(signal_id)
            assert updated is not None
            detail = _edits_text(edits) if reason is None else f"reason: {reason}"
            if decision is Decision.APPROVED and second is not None:
                detail = f"2 of 2 (first {first}); {detail}".rstrip("; ")
            await uow.audit.add(AuditEntry(actor.id, verb, target, True, detail, now))
            events.append(
                ApprovalDecided(
                    at=now,
                    bot_name=stored.bot_name,
                    signal_id=signal_id,
                    decision=decision.value,
                    by=actor.name,
                    reason=reason,
                )
            )
            uow.emit(events)
            await uow.commit()
        self._publish(uow.emitted)
        if decision is Decision.APPROVED:
            self._checkpoint("approved")
            self._wake(stored.bot_id)
            notes = await self._plan_notes(updated)
            said = f" ({'; '.join(notes)})" if notes else ""
            of_two = " (2 of 2)" if second is not None else ""
            return ActionResult(
                True, f"signal #{signal_id} approved by {actor.name}{of_two}; executing{said}", signal=updated
            )
        why = f": {reason}" if reason else ""
        return ActionResult(True, f"signal #{signal_id} rejected by {actor.name}{why}", signal=updated)

    async def _first_of_two(
        self,
        uow: UnitOfWork,
        stored: StoredSignal,
        actor: Actor,
        edits: SignalEdits | None,
        reason: str,
        now: datetime,
    ) -> ActionResult:
        """Inside `_decide`'s transaction: record the first of two approvals; the signal waits."""
        signal_id = stored.id
        if not await uow.approvals.approve_first(signal_id, actor.id, now):
            return ActionResult(False, f"signal #{signal_id} was approved meanwhile; try again", "already_decided")
        if edits is not None:
            await uow.approvals.set_edits(signal_id, edits, actor.id)
            await uow.signals.set_edits(signal_id, edits)
        detail = f"1 of 2: {reason}" + (f"; {_edits_text(edits)}" if edits is not None else "")
        await uow.audit.add(AuditEntry(actor.id, "approve", f"signal:{signal_id}", True, detail, now))
        uow.emit([ApprovalProgress(at=now, bot_name=stored.bot_name, signal_id=signal_id, by=actor.name)])
        await uow.commit()
        self._publish(uow.emitted)
        return ActionResult(
            True,
            f"signal #{signal_id} approved 1 of 2 by {actor.name}; it needs a second approver ({reason})",
            signal=stored,
        )

    async def _second_approval(self, signal_id: int, edits: SignalEdits | None) -> str | None:
        """Why approving this signal as it would be sent needs two different approvers; None
        when one is enough (trading/services/second_approval.py)."""
        return await second_approval_of(self._uow, self._market, signal_id, edits)

    async def edit(
        self, signal_id: int, actor: Actor, edits: SignalEdits, quantities: Mapping[str, Decimal] | None = None
    ) -> ActionResult:
        """An approver's edits. For a bot on several accounts the alert has one card: the order
        type, limit, stop and target apply to every leg still waiting; a quantity is an
        account's own (each is scaled), so `edits.quantity` is this leg's and `quantities`
        names the others' by account."""
        waiting = await self._waiting_leg_ids(signal_id)
        if len(waiting) < 2:
            if quantities:
                return ActionResult(False, f"signal #{signal_id} is on one account: edit its quantity", "invalid")
            return await self._edit_one(signal_id, actor, edits)
        own = next(a for a, i in waiting.items() if i == signal_id)
        named = {a.lower(): a for a in waiting}
        strangers = [a for a in quantities or {} if a.lower() not in named]
        if strangers:
            return ActionResult(
                False,
                f"signal #{signal_id} has no waiting leg on {', '.join(repr(a) for a in strangers)} "
                f"(its accounts: {', '.join(waiting)})",
                "invalid",
            )
        per_account = {named[a.lower()]: q for a, q in (quantities or {}).items()}
        if edits.quantity is not None:
            per_account.setdefault(own, edits.quantity)
        shared = replace(edits, quantity=None)
        plan = [
            (account, leg_id, leg_edits)
            for account, leg_id in waiting.items()
            if (leg_edits := replace(shared, quantity=per_account.get(account))) != SignalEdits()
        ]
        for account, leg_id, leg_edits in plan:  # every leg's checked before any is changed
            if problem := await self._check_edits(leg_id, leg_edits):
                return ActionResult(False, f"account {account}: {problem}", "invalid")
        said: list[str] = []
        edited: StoredSignal | None = None
        for account, leg_id, leg_edits in plan:
            result = await self._edit_one(leg_id, actor, leg_edits, merge=True)
            if not result.ok:
                return replace(result, message=f"account {account}: {result.message}")
            edited = edited or result.signal
            said.append(f"{account}: {result.message}")
        if not said:
            return ActionResult(False, "nothing to change", "invalid")
        return ActionResult(True, "; ".join(said), signal=edited)

    async def _waiting_leg_ids(self, signal_id: int) -> dict[str, int]:
        """The alert's legs awaiting a decision by account, `signal_id`'s among them (a bot on
        several accounts); {} for a bot on one account or when `signal_id` waits no more (its
        decision then says so)."""
        async with self._uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id, history=False)
            bot = await uow.bots.get(stored.bot_id) if stored is not None else None
            if bot is None or bot.config.accounts is None:
                return {}
            legs = [await uow.signals.get(i, history=False) for i in await uow.signals.legs_of(signal_id)]
        waiting = {
            account_of(s.signal, bot.config): s.id
            for s in legs
            if s is not None and s.state is SignalState.PENDING_APPROVAL
        }
        return waiting if signal_id in waiting.values() else {}

    async def _edit_one(self, signal_id: int, actor: Actor, edits: SignalEdits, merge: bool = False) -> ActionResult:
        """`merge`: the fields given replace the leg's, the others kept (an alert's edit made
        leg by leg keeps what an earlier edit of one leg set)."""
        target = f"signal:{signal_id}"
        if refused := await self._access.refusal(actor, Role.APPROVER, "edit", target, "edit signals"):
            return refused
        problem = await self._check_edits(signal_id, edits)
        if problem:
            return ActionResult(False, problem, "invalid")
        now = self._clock.now()
        async with self._uow() as uow:
            stored = await uow.signals.get(signal_id, for_update=True)
            approval = await uow.approvals.get(signal_id)
            if stored is None or approval is None:
                return ActionResult(False, f"signal #{signal_id} has no approval request", "not_found")
            if stored.state is not SignalState.PENDING_APPROVAL or approval.decision is not None:
                return ActionResult(
                    False, f"signal #{signal_id} is {state_words(stored.state.value)}; too late to edit", "not_pending"
                )
            if merge and stored.edits is not None:
                edits = _merged(stored.edits, edits)
            await uow.approvals.set_edits(signal_id, edits, actor.id)
            await uow.signals.set_edits(signal_id, edits)
            withdrawn = approval.first_approved_by
            if withdrawn is not None:
                # The first approver approved another trade: both approvals are needed again.
                await uow.approvals.clear_first(signal_id)
            await uow.audit.add(AuditEntry(actor.id, "edit", target, True, _edits_text(edits), now))
            again = (
                f"; the first approval (by {actor_words(withdrawn)}) was withdrawn, so it needs two approvals again"
                if withdrawn
                else ""
            )
            uow.emit(
                [
                    Notice(
                        at=now,
                        bot_name=stored.bot_name,
                        signal_id=signal_id,
                        message=f"signal #{signal_id} edited by {actor.name}: {_edits_text(edits)}{again}",
                    )
                ]
            )
            await uow.commit()
        self._publish(uow.emitted)
        return ActionResult(True, f"signal #{signal_id} edited; it still waits for approval{again}", signal=stored)

    async def _check_edits(self, signal_id: int, edits: SignalEdits) -> str | None:
        """What is wrong with an approver's edits, by the same rules as an alert's fields;
        None when they may be applied."""
        if edits.quantity is not None and edits.quantity <= 0:
            return f"quantity must be above 0 (got {edits.quantity})"
        if edits.order_type is OrderType.LIMIT and edits.limit_price is None:
            return "a limit order needs a limit price"
        async with self._uow() as uow:
            stored = await uow.signals.get(signal_id, history=False)
            whole = await uow.bots.get(stored.bot_id) if stored else None
        if stored is None or whole is None:
            return None  # the decision itself says there is no such signal
        bot = on_account(whole, account_of(stored.signal, whole.config))
        instrument = await self._market.instrument_or_none(bot)
        if edits.quantity is not None and instrument is not None:
            if edits.quantity > instrument.max_quantity:
                return (
                    f"quantity {edits.quantity} is over {instrument.symbol}'s maximum of "
                    f"{display.quantity(instrument.max_quantity)} contracts"
                )
            if instrument.whole_contracts and (
                fraction := whole_contracts_refusal(edits.quantity, instrument.symbol, bot.config.broker_account)
            ):
                return fraction
        prices = [
            (name, value)
            for name, value in (
                ("limit price", edits.limit_price),
                ("stop", edits.stop_loss),
                ("target", edits.take_profit),
            )
            if value is not None
        ]
        if not prices:
            return None
        signal = stored.signal
        quote = await self._market.quote(bot)
        reference = quote.last if quote is not None else signal.price
        side = signal.action.entry_side
        if side is not None:
            entry = edits.limit_price or (quote.price_for(side.opening_order_side) if quote else signal.price)
            stop = edits.stop_loss if edits.stop_loss is not None else signal.stop_loss
            target = edits.take_profit if edits.take_profit is not None else signal.take_profit
            wrong = level_problem(side, entry, stop, target, ("stop", "target"))
            if wrong is not None:
                return wrong[1]
        for name, value in prices:
            # Stops and targets are watched here, not sent: only a limit price must be on the tick.
            tick = instrument.tick_size if instrument is not None and name == "limit price" else None
            problem = price_problem(name, value, tick, reference)
            if problem is not None:
                return problem
        return None

    async def _plan_notes(self, stored: StoredSignal) -> tuple[str, ...]:
        """What the engine will change from what was approved (a quantity cut to the room
        left), as planned against the position now: said in the approver's answer."""
        async with self._uow() as uow:
            whole = await uow.bots.get(stored.bot_id)
            if whole is None:
                return ()
            bot = on_account(whole, account_of(stored.signal, whole.config))
            position = await position_of(uow, bot)
        instrument = await self._market.instrument_or_none(bot)
        if instrument is None:
            return ()
        return (
            await self._market.outlook(bot, stored.signal, stored.edits, position, instrument=instrument)
        ).plan.notes

    async def record_card_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        async with self._uow() as uow:
            await uow.approvals.set_message(signal_id, channel_id, message_id)
            await uow.commit()


def _leg_edits(edits: SignalEdits | None, leg: StoredSignal, sized: int | None) -> SignalEdits | None:
    """An approval's edits as one leg of the alert takes them: a quantity only on the leg
    `sized` (each account's is scaled), over what an earlier edit of the leg set."""
    if edits is None:
        return None
    mine = edits if leg.id == sized else replace(edits, quantity=None)
    if mine == SignalEdits():
        return None
    return _merged(leg.edits, mine) if leg.edits is not None else mine


def _merged(old: SignalEdits, new: SignalEdits) -> SignalEdits:
    """`new`'s fields over `old`'s, the ones it leaves unset kept."""
    return SignalEdits(
        quantity=new.quantity if new.quantity is not None else old.quantity,
        order_type=new.order_type if new.order_type is not None else old.order_type,
        limit_price=new.limit_price if new.limit_price is not None else old.limit_price,
        stop_loss=new.stop_loss if new.stop_loss is not None else old.stop_loss,
        take_profit=new.take_profit if new.take_profit is not None else old.take_profit,
    )


def _edits_text(edits: SignalEdits | None) -> str:
    if edits is None:
        return ""
    parts = [
        f"{name} {value.value if isinstance(value, OrderType) else value}"
        for name, value in (
            ("quantity", edits.quantity),
            ("type", edits.order_type),
            ("limit", edits.limit_price),
            ("stop", edits.stop_loss),
            ("target", edits.take_profit),
        )
        if value is not None
    ]
    return ", ".join(parts)
