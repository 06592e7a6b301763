"""Repairing a position mismatch (the broker's net on a symbol against the sum of our bots
on it), by a person: adopt the broker's side, or flatten the symbol.

- adopt: the repaired bot's position takes the difference as one adjusting fill at the
  broker's average price (trading/domain/repair.py computes it), so that the sum over the
  symbol's bots equals the broker's net.
- flatten: the same adjustment, so that our books hold what the broker holds, then one
  synthetic close signal per bot with a position on the symbol: each goes through the
  normal order path (plan, risk checks, orders, fills, trades, events), and together they
  close the broker's net.

Both are audited with the actor, clear every bot on the symbol of 'needs attention', and
end any stop-monitor retries there (the position changed under it); the next
reconciliation finds no mismatch. A repair is refused while a signal of those bots is
executing (its fill could land between the broker's answer and ours).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from trading.domain import display
from trading.domain.events import BotStateChanged, Event, PositionRepaired, trade_closed
from trading.domain.legs import on_account
from trading.domain.levels import levels_for_entry
from trading.domain.market import BrokerPosition
from trading.domain.people import Role
from trading.domain.position import Fill, Position
from trading.domain.records import AuditEntry, Bot, trade_of
from trading.domain.repair import RepairAction, RepairImpossible, adjustment, adjustment_price
from trading.domain.signals import SignalAction, SignalState
from trading.services.actions import ActionResult, Actor
from trading.services.context import UseCase
from trading.services.ports import UnitOfWork
from trading.services.synthetic import bot_named, queue_synthetic

log = logging.getLogger("signaldesk.repair")


class Repairs(UseCase):
    """A person's repair of a mismatch."""

    async def repair(self, bot_name: str, action: str, actor: Actor, account: str | None = None) -> ActionResult:
        """Adopt the broker's position or flatten it on the bot's account (a bot on several
        accounts: on the one named, or, unnamed, the one account where the broker and
        signaldesk differ)."""
        try:
            what = RepairAction(action)
        except ValueError:
            return ActionResult(False, f"unknown repair {action!r}: use adopt or flatten", "invalid")
        verb = f"reconcile {what.value}"
        if refused := await self._access.refusal(
            actor, Role.APPROVER, verb, f"bot:{bot_name}", "repair position mismatches"
        ):
            return refused
        whole = await bot_named(self._uow, bot_name)
        if whole is None:
            return ActionResult(False, f"no bot named {bot_name!r}", "not_found")
        names = whole.config.account_names
        if account is None and len(names) > 1:
            differing = await self._differing_accounts(whole)
            if len(differing) != 1:
                why = "they differ on " + ", ".join(differing) if differing else "none differs now"
                return ActionResult(
                    False,
                    f"bot {bot_name} trades on {', '.join(names)} ({why}): name the account to repair",
                    "invalid",
                )
            account = differing[0]
        chosen = next((a for a in names if account is None or a.lower() == account.lower()), None)
        if chosen is None:
            return ActionResult(
                False,
                f"bot {bot_name} does not trade on account {account!r} (its accounts: {', '.join(names)})",
                "invalid",
            )
        # The bot's leg on that account, and every bot's leg on the same account and symbol.
        bot = on_account(whole, chosen)
        async with self._uow(read_only=True) as uow:
            members = [
                leg
                for b in await uow.bots.list()
                for leg in (on_account(b, a) for a in b.config.account_names)
                if leg.config.broker_account == bot.config.broker_account and leg.config.symbol == bot.config.symbol
            ]
        async with self._locks.hold(b.id for b in members) as elsewhere:
            if elsewhere:
                busy = ", ".join(sorted(b.name for b in members if b.id in elsewhere))
                return ActionResult(
                    False,
                    f"cannot repair {bot.config.symbol} now: another process of the desk runs the signals of "
                    f"{busy}; try again once they are final",
                    "busy",
                )
            result, woken = await self._repair(bot, members, what, actor)
        for bot_id in woken:
            self._wake(bot_id)
        return result

    async def _differing_accounts(self, whole: Bot) -> list[str]:
        """The bot's accounts where the broker's net on its symbol differs from the sum of
        every bot's legs there (an account whose positions cannot be read counts as differing)."""
        async with self._uow(read_only=True) as uow:
            every = [on_account(b, a) for b in await uow.bots.list() for a in b.config.account_names]
            ours = {
                (leg.config.broker_account, leg.config.symbol, leg.id): (
                    await uow.positions.get(
                        leg.id,
                        leg.config.symbol,
                        account=leg.config.broker_account,
                        multiplier=Decimal(1),
                        for_update=False,
                    )
                ).signed_quantity
                for leg in every
            }
        differing = []
        for name in whole.config.account_names:
            leg = on_account(whole, name)
            symbol = leg.config.symbol
            try:
                held = await self.executor.broker_for(leg).get_positions()
            except Exception as e:
                log.warning("repair of %s: %s positions unavailable: %r", whole.name, name, e)
                differing.append(name)
                continue
            theirs = sum((p.quantity for p in held if p.symbol == symbol), Decimal(0))
            mine = sum((q for (a, s, _bot), q in ours.items() if a == name and s == symbol), Decimal(0))
            if theirs != mine:
                differing.append(name)
        return differing

    async def _repair(
        self, bot: Bot, members: list[Bot], what: RepairAction, actor: Actor
    ) -> tuple[ActionResult, list[int]]:
        symbol, broker = bot.config.symbol, self.executor.broker_for(bot)
        account = bot.config.broker_account  # the broker's name, as reconciliation says it
        target = f"bot:{bot.name}"
        verb = f"reconcile {what.value}"
        try:
            held: BrokerPosition | None = next(
                (p for p in await broker.get_positions() if p.symbol == symbol and p.quantity), None
            )
        except Exception as e:
            log.warning("repair of %s: %s positions unavailable: %r", bot.name, account, e)
            return ActionResult(
                False,
                f"cannot repair {bot.name}: {account} did not give its positions ({e}); try again",
                "broker_unavailable",
            ), []
        instrument = await self._market.instrument_or_none(bot)
        multiplier = instrument.contract_multiplier if instrument is not None else Decimal(1)
        async with self._uow(read_only=True) as uow:
            for b in members:
                if await uow.signals.list(bot_id=b.id, state=SignalState.EXECUTING, limit=1):
                    return ActionResult(
                        False,
                        f"cannot repair {symbol} now: a signal of {b.name} is executing; try again once it has finished",
                        "busy",
                    ), []
            positions = {
                b.id: await uow.positions.get(b.id, symbol, account=account, multiplier=multiplier, for_update=False)
                for b in members
            }
        ours = sum((p.signed_quantity for p in positions.values()), Decimal(0))
        theirs = held.quantity if held is not None else Decimal(0)
        flagged = [b for b in members if b.needs_attention]
        if ours == theirs and not flagged:
            return ActionResult(
                False,
                f"nothing to repair on {symbol}: signaldesk and {account} both hold {display.signed_quantity(ours)} "
                f"and no bot on it needs attention",
                "no_mismatch",
            ), []

        now = self._clock.now()
        mine = positions[bot.id]
        quote_price: Decimal | None = None
        if theirs != ours and (held is None or held.average_price <= 0):
            quote = await self._market.quote(bot)
            if quote is not None:
                quote_price = quote.last
        try:
            adjust = adjustment(
                ours=ours,
                theirs=theirs,
                price=adjustment_price(held.average_price if held else None, quote_price, mine.average_price),
                fill_id=f"repair-{bot.id}-{f'{account}-' if bot.config.accounts else ''}{now.isoformat()}",
                at=now,
            )
        except RepairImpossible as e:
            await self._access.audit(actor, verb, target, False, str(e))
            return ActionResult(False, f"cannot {what.value} {bot.name}: {e}", "no_price"), []

        events: list[Event] = []
        currency = instrument.currency if instrument is not None else ""
        tick = instrument.tick_size if instrument is not None else None
        async with self._uow() as uow:
            position = await uow.positions.get(bot.id, symbol, account=account, multiplier=multiplier)
            if adjust.fill is not None and await uow.positions.add_fill(bot.id, adjust.fill.fill_id, adjust.fill):
                events += await self._book(uow, bot, position, adjust.fill, currency, tick)
                positions[bot.id] = position
            for b in members:
                if b.needs_attention:
                    await uow.bots.set_needs_attention(b.id, False, None)
                for watch in await uow.exits.list(bot_id=b.id):
                    if watch.symbol == symbol and watch.account == account:
                        await uow.exits.delete(b.id, symbol, account=account)
            detail = adjust.describe(symbol)
            if what is RepairAction.FLATTEN:
                closing = [b for b in members if not positions[b.id].is_flat]
                detail += "; closing " + (", ".join(b.name for b in closing) if closing else "nothing (all flat)")
            await uow.audit.add(AuditEntry(actor.id, verb, target, True, detail, now))
            await uow.commit()
        self.executor.watchlist.changed()

        made: list[str] = []
        woken: list[int] = []
        if what is RepairAction.FLATTEN:
            for b in members:
                pos = positions[b.id]
                if pos.is_flat:
                    continue
                price = adjust.fill.price if adjust.fill is not None else (pos.average_price or Decimal(1))
                stored = await queue_synthetic(
                    self._uow,
                    self._clock,
                    b,
                    SignalAction.CLOSE,
                    price,
                    actor,
                    f"flatten {symbol} by {actor.name} (mismatch repair)",
                )
                made.append(f"#{stored.id} closes {b.name}'s {display.signed_quantity(pos.signed_quantity)}")
                woken.append(b.id)
        events.append(
            PositionRepaired(
                at=now,
                bot_name=bot.name,
                symbol=symbol,
                action=what.value,
                ours=ours,
                theirs=theirs,
                by=actor.name,
                detail="; ".join(made),
            )
        )
        events += [
            BotStateChanged(at=now, bot_name=b.name, change="cleared of needs attention", by=actor.name)
            for b in flagged
        ]
        self._publish(events)
        if what is RepairAction.ADOPT:
            held_now = positions[bot.id].signed_quantity
            message = f"{bot.name} adopted {account}'s {symbol}: it now holds {display.signed_quantity(held_now)}, the sum is {display.signed_quantity(theirs)}"
        elif made:
            message = f"flattening {symbol} ({display.signed_quantity(theirs)} at {account}): " + "; ".join(made)
        else:
            message = f"{symbol} is flat at {account}; every bot on it is set flat"
        return ActionResult(True, message), woken

    async def _book(
        self, uow: UnitOfWork, bot: Bot, position: Position, fill: Fill, currency: str, tick: Decimal | None
    ) -> list[Event]:
        """Apply the adjusting fill to the bot's position (saved), with the trade it closed,
        if it reduced the position; a position opened or reversed by it gets the bot's
        stop and target."""
        side_before = position.side
        outcome = position.apply_fill(fill)
        events: list[Event] = []
        if outcome.closed is not None:
            trade = await uow.trades.add(
                trade_of(
                    outcome.closed,
                    bot.id,
                    bot.name,
                    position.symbol,
                    client_order_id=fill.fill_id,
                    account=position.account,
                )
            )
            events.append(trade_closed(trade, fill.time, currency, tick))
        if position.side is not None and position.side is not side_before and position.average_price is not None:
            position.stop_loss, position.take_profit = levels_for_entry(
                position.side, position.average_price, bot.config, None, None, tick
            )
        await uow.positions.save(bot.id, position)
        return events
