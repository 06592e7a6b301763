"""A person's own orders: a free-form order (planned, checked, queued through the same
engine as an alert's) and the cancel of a resting one.

Approvers only; every act, allowed or not, is audited."""

from __future__ import annotations

from trading.domain import display
from trading.domain.engine import plan as plan_signal
from trading.domain.events import Notice
from trading.domain.manual import OrderTicket, ticket_price, ticket_problem, ticket_signal
from trading.domain.people import Role
from trading.domain.preview import preview
from trading.domain.records import AuditEntry, Bot
from trading.domain.risk import RiskContext, check_risk
from trading.domain.signals import Signal, SignalState
from trading.domain.values import ZERO
from trading.domain.views import ApprovalCard
from trading.services.actions import ActionResult, Actor, OrderPreview
from trading.services.context import UseCase
from trading.services.execution import RunResult
from trading.services.positions import position_of
from trading.services.synthetic import bot_named, store_queued

PREVIEW = "preview"  # the state an order's card shows before it is placed


class Orders(UseCase):
    async def preview_order(self, ticket: OrderTicket, actor: Actor) -> OrderPreview:
        """The plan the ticket would make now, as a card shows it; or why it would be refused.
        Nothing is stored (but a refusal of a non-approver, which is audited)."""
        checked = await self._check(ticket, actor)
        if isinstance(checked, ActionResult):
            return OrderPreview(checked)
        _bot, _signal, card = checked
        return OrderPreview(ActionResult(True, f"{ticket.bot}: {card.plan_summary} {ticket.describe()}"), card)

    async def place_order(self, ticket: OrderTicket, actor: Actor) -> ActionResult:
        """Store the ticket as a signal of source manual, queued at once (a person's own
        order needs no approval card), and wake its bot: the engine plans it again and the
        risk checks run again when it executes."""
        target = f"bot:{ticket.bot}"
        checked = await self._check(ticket, actor)
        if isinstance(checked, ActionResult):
            if checked.code != "forbidden":  # that one is audited already
                await self._access.audit(actor, "order", target, False, f"{ticket.describe()}: {checked.message}")
            return checked
        bot, signal, card = checked
        now = self._clock.now()
        doing = f"order by {actor.name}: {card.plan_summary} {ticket.describe()}"
        async with self._uow() as uow:
            stored = await store_queued(uow, bot.id, signal, actor, now, doing)
            await uow.audit.add(AuditEntry(actor.id, "order", target, True, f"signal #{stored.id}: {doing}", now))
            queued = await uow.signals.get(stored.id)
            uow.emit([Notice(at=now, bot_name=bot.name, signal_id=stored.id, message=f"signal #{stored.id}: {doing}")])
            await uow.commit()
        self._publish(uow.emitted)
        self._wake(bot.id)
        return ActionResult(
            True, f"order queued as signal #{stored.id}: {card.plan_summary} {ticket.describe()}", signal=queued
        )

    async def _check(self, ticket: OrderTicket, actor: Actor) -> tuple[Bot, Signal, ApprovalCard] | ActionResult:
        if refused := await self._access.refusal(actor, Role.APPROVER, "order", f"bot:{ticket.bot}", "place orders"):
            return refused
        bot = await bot_named(self._uow, ticket.bot)
        if bot is None:
            return ActionResult(False, f"no bot named {ticket.bot!r}", "not_found")
        instrument = await self._market.instrument_or_none(bot)
        if instrument is None:
            return ActionResult(
                False, f"{bot.config.symbol}'s specification cannot be read from the broker now", "failed"
            )
        quote = await self._market.quote(bot)
        problem = ticket_problem(ticket, instrument, quote, bot.config.broker_account)
        if problem is not None:
            return ActionResult(False, problem[1], "invalid")
        price = ticket_price(ticket, quote)
        assert price is not None  # ticket_problem says so otherwise
        now = self._clock.now()
        signal = ticket_signal(ticket, price, now, actor.name, bot.config.tradingview_ticker)
        async with self._uow(read_only=True) as uow:
            position = await position_of(uow, bot, instrument.contract_multiplier)
            control = await uow.control.get()
            realized = ZERO
            if bot.config.max_daily_loss is not None:
                day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
                realized = await uow.trades.realized_since(bot.id, day_start)
        the_plan = plan_signal(bot.config, position, signal, instrument)
        if the_plan.is_ignore:
            return ActionResult(False, f"nothing to do: {the_plan.ignored}", "invalid")
        verdict = check_risk(
            RiskContext(
                config=bot.config,
                plan=the_plan,
                signal=signal,
                instrument=instrument,
                quote=quote,
                halted=control.halted,
                paused=bot.paused,
                needs_attention=bot.needs_attention,
                account_paused=control.paused_accounts.get(bot.config.broker_account),
                realized_today=realized,
                now=now,
            )
        )
        if verdict.refused is not None:
            return ActionResult(False, f"refused: {verdict.refused}", "halted" if control.halted else "refused")
        final = verdict.plan
        main = final.legs[-1]
        quoted = quote.price_for(main.side) if quote is not None else None
        seen = preview(position, final, price, final.new_stop_loss, instrument.tick_size)
        card = ApprovalCard(
            signal_id=0,
            bot_name=bot.name,
            symbol=bot.config.symbol,
            action=signal.action.value,
            plan_summary=final.summary,
            ignored_reason=None,
            quantity=main.quantity,
            order_type=ticket.order_type,
            limit_price=ticket.limit_price,
            alert_price=price,
            quote=quoted,
            drift_pct=None,
            stop_loss=final.new_stop_loss,
            take_profit=final.new_take_profit,
            risk_to_stop=seen.risk_to_stop,
            currency=instrument.currency,
            tick_size=instrument.tick_size,
            position_before=seen.before,
            position_after=seen.after,
            expires_at=None,
            state=PREVIEW,
            edits=None,
            edited_by=None,
            decided_by=None,
            decided_at=None,
            outcome=None,
            notes=final.notes,
        )
        return bot, signal, card

    # ------------------------------------------------------------------ cancel

    async def cancel_order(self, client_order_id: str, actor: Actor) -> ActionResult:
        """Cancel a resting order at the broker; the broker's truth decides what it was:
        what filled before the cancel stays in the position, and the signal is final."""
        target = f"order:{client_order_id}"
        if refused := await self._access.refusal(actor, Role.APPROVER, "cancel", target, "cancel orders"):
            return refused
        async with self._uow(read_only=True) as uow:
            order = await uow.orders.get(client_order_id)
            bot = await uow.bots.get(order.bot_id) if order is not None else None
        if order is None or bot is None:
            await self._access.audit(actor, "cancel", target, False, "no such order")
            return ActionResult(False, f"there is no order {client_order_id}", "not_found")
        async with self._locks.of(bot.id):
            # Under the lock the bot's lane is between tries: the order is as stored.
            async with self._uow(read_only=True) as uow:
                stored = await uow.signals.get(order.signal_id, history=False)
            if stored is None or stored.state is not SignalState.EXECUTING:
                state = stored.state.value if stored is not None else "gone"
                await self._access.audit(actor, "cancel", target, False, f"signal is {state}")
                return ActionResult(
                    False,
                    f"order {client_order_id} is not resting: its signal #{order.signal_id} is {state}",
                    "not_pending",
                )
            outcome = await self.executor.cancel(stored, bot, client_order_id, actor.name, actor.id)
        if isinstance(outcome, tuple):
            code, message = outcome
            await self._access.audit(actor, "cancel", target, False, message)
            return ActionResult(False, message, code)
        async with self._uow(read_only=True) as uow:
            after = await uow.orders.get(client_order_id)
            final = await uow.signals.get(order.signal_id)
        assert after is not None and final is not None
        self._wake(bot.id)
        filled = f"{after.filled_quantity} of {after.quantity} filled"
        if after.filled_quantity:
            instrument = await self._market.instrument_or_none(bot)
            tick = instrument.tick_size if instrument is not None else None
            filled += f" @ {display.price(after.average_fill_price, tick)}"
        if after.status.value == "canceled":
            kept = ", kept in the position" if after.filled_quantity else ""
            message = f"order {client_order_id} cancelled: {filled}{kept}; signal #{final.id} {final.state.value}"
            await self._access.audit(actor, "cancel", target, True, message)
            return ActionResult(True, message, signal=final)
        message = _too_late(client_order_id, after.status.value, filled, final.id, final.state.value, outcome)
        await self._access.audit(actor, "cancel", target, True, message)
        return ActionResult(False, message, "not_pending", final)


def _too_late(cid: str, status: str, filled: str, signal_id: int, state: str, run: RunResult) -> str:
    still = "" if run.finished else " (it is still being settled)"
    return f"too late: order {cid} was already {status} at the broker ({filled}); signal #{signal_id} {state}{still}"
