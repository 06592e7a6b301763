"""Reconciliation: each broker's net positions against the sum of our bots' positions;
a mismatch flags the bots so that nobody trades on a wrong picture."""

from __future__ import annotations

import logging
from decimal import Decimal

from trading.domain import display
from trading.domain.events import (
    Event,
    PositionMismatch,
)
from trading.domain.legs import on_account
from trading.domain.records import Bot
from trading.domain.signals import SignalState
from trading.services.context import UseCase

log = logging.getLogger("signaldesk.reconciliation")


class Reconciliation(UseCase):
    """Compares us with the brokers."""

    async def reconcile(self, *, only_bot: int | None = None) -> list[str]:
        """Compare each broker's net positions with the sum of ours; flag the bots on a mismatch.

        `only_bot`: just that bot's symbol at its broker (a broker said a close of it would not
        reduce anything: our picture and the broker's differ now, not in five minutes).

        The bots of a broker are locked meanwhile (their lanes too, with several processes),
        so no fill can land between reading the broker and reading us; a symbol with a signal
        still executing (an order whose outcome is being looked up), or with a bot whose lane
        another process runs now, is left for the next round rather than reported falsely.
        """
        async with self._uow() as uow:
            # A bot on several accounts is one leg on each: its position there is part of that sum.
            bots = [
                on_account(b, account)
                for b in await uow.bots.list()
                if b.config.is_active
                for account in b.config.account_names
            ]
        if only_bot is not None:
            # One bot's symbols at its brokers: every bot that shares one is part of its sum.
            doubted = {(b.config.broker_account, b.config.symbol) for b in bots if b.id == only_bot}
            if not doubted:
                return []
            bots = [b for b in bots if (b.config.broker_account, b.config.symbol) in doubted]
        by_broker: dict[str, list[Bot]] = {}
        for bot in bots:
            by_broker.setdefault(bot.config.broker_account, []).append(bot)
        problems: list[str] = []
        for broker_name, members in by_broker.items():
            async with self._locks.hold(b.id for b in members) as elsewhere:
                problems += await self._reconcile_broker(broker_name, members, elsewhere)
        return problems

    async def _reconcile_broker(self, broker_name: str, members: list[Bot], elsewhere: frozenset[int]) -> list[str]:
        # A symbol one of whose bots another process runs now may take a fill while we read.
        busy = {b.config.symbol for b in members if b.id in elsewhere}
        if busy >= {b.config.symbol for b in members}:
            return []  # every symbol is left for the next round: nothing to ask the broker
        for bot in members:
            if bot.id in elsewhere:
                continue
            # A close the exchange made by a stop or target since the monitor's last pass is
            # recorded first (and orders of positions closed meanwhile cancelled), rather than
            # reported as a mismatch. A no-op where the monitor watches the levels.
            await self.executor.exchange_exits.align(bot, poll=True)
        try:
            theirs = {p.symbol: p.quantity for p in await self._brokers(broker_name).get_positions()}
        except Exception as e:
            log.warning("reconciliation: %s positions unavailable: %r", broker_name, e)
            return []
        ours: dict[str, Decimal] = {}
        async with self._uow() as uow:
            in_flight = set(await uow.signals.ids_in_states([SignalState.EXECUTING]))
            for bot in members:
                symbol = bot.config.symbol
                if symbol in busy:
                    continue  # left for the next round whatever the two sides hold
                pos = await uow.positions.get(
                    bot.id, symbol, account=bot.config.broker_account, multiplier=Decimal(1), for_update=False
                )
                ours[symbol] = ours.get(symbol, Decimal(0)) + pos.signed_quantity
                if in_flight and await uow.signals.list(bot_id=bot.id, state=SignalState.EXECUTING, limit=1):
                    busy.add(symbol)
        problems: list[str] = []
        for symbol, qty in ours.items():
            held = theirs.get(symbol, Decimal(0))
            if held == qty or symbol in busy:
                continue
            now = self._clock.now()
            events: list[Event] = []
            reason = f"{broker_name} holds {display.signed_quantity(held)} {symbol}, signaldesk {display.signed_quantity(qty)}"
            async with self._uow() as uow:
                for bot in members:
                    if bot.config.symbol != symbol:
                        continue
                    await uow.bots.set_needs_attention(bot.id, True, reason)
                    events.append(
                        PositionMismatch(
                            at=now, bot_name=bot.name, symbol=symbol, ours=qty, theirs=held, source="broker"
                        )
                    )
                uow.emit(events)
                await uow.commit()
            problems.append(
                f"{broker_name} {symbol}: ours {display.signed_quantity(qty)}, broker {display.signed_quantity(held)}"
            )
            self._publish(uow.emitted)
        return problems
