"""The stop monitor: positions whose stop or target the quote has reached are closed
through the same path as any signal, and the exit is seen through.

Each watched position has an ExitWatch (trading/domain/exits.py) stored between passes, so
a restart, or another process taking the monitor over, carries on where it was:
- an exit signal that ends without the position flat (refused, failed, rejected by the
  broker) is followed by another after a backoff (services/backoff.py), until the position
  is flat or a person steps in: a /close or a /pause stops the retries (/resume starts
  afresh), a repair of a mismatch ends them. The error channel hears of it after the first
  failure and every few after (ExitFailing, with the count).
- a position with a stop whose quote cannot be read for QUOTE_MISSES_REPORTED passes in a
  row is reported once (QuotesUnavailable), and again when quotes return (QuotesBack).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from trading.domain import display
from trading.domain.events import (
    BotStateChanged,
    Event,
    ExitFailing,
    Notice,
    QuotesBack,
    QuotesUnavailable,
    StopMoved,
)
from trading.domain.exits import QUOTE_MISSES_REPORTED, ExitWatch, report_failure
from trading.domain.flatten import daily_loss, monitored, window_end
from trading.domain.legs import on_account
from trading.domain.levels import exit_trigger
from trading.domain.position import Position
from trading.domain.records import Bot
from trading.domain.signals import SignalAction, SignalSource
from trading.domain.trailing import trailed, trails
from trading.services.actions import Actor
from trading.services.backoff import backoff_delay
from trading.services.context import UseCase
from trading.services.exchange_exits import ExitsAt
from trading.services.synthetic import queue_synthetic

MONITOR = Actor("monitor", "stop monitor", True)

log = logging.getLogger("signaldesk.monitors")


class Monitors(UseCase):
    """Watches stops and targets, and sees exits through."""

    retry_first: float = 2.0  # seconds before the first retry of a failed exit; doubling from there
    retry_cap: float = 60.0  # never longer than this between tries

    async def check_exits(self) -> list[int]:
        """One pass: start the exits whose stop or target the quote has reached, try again
        the ones that failed and are due, report quotes missing and back. The ids of the
        exit signals made."""
        made: list[int] = []
        watchlist = self.executor.watchlist
        if watchlist.stale(self._clock.now()):
            async with self._uow(read_only=True) as uow:
                positions = await uow.positions.list_open()
                bots = await uow.bots.list()
                stored_watches = await uow.exits.list()
            watchlist.load(self._clock.now(), bots, positions, stored_watches)
        if watchlist.idle:
            return made
        open_positions, bots_by_id = list(watchlist.positions), watchlist.bots
        watches = dict(watchlist.watches)
        still_open: set[tuple[int, str, str]] = set()
        for bot_id, position in open_positions:
            whole = bots_by_id.get(bot_id)
            if whole is None:
                continue
            # The bot as the leg holding this position trades: its account, its symbol there.
            bot = on_account(whole, position.account)
            key = (bot_id, position.account, position.symbol)
            still_open.add(key)
            stored = watches.get(key)
            fresh = ExitWatch(bot_id, position.symbol, position.opened_at, account=position.account)
            watch = stored.for_position(position.opened_at) if stored is not None else fresh
            if (
                not watch.exiting
                and position.stop_loss is None
                and position.take_profit is None
                and not monitored(bot.config)
            ):
                if stored is not None:
                    await self._forget(key)
                continue
            watch, events, signal_id = await self._pass(bot, position, watch)
            if watch != (stored or fresh):
                async with self._uow() as uow:
                    await uow.exits.save(watch)
                    uow.emit(events)
                    await uow.commit()
                watchlist.watches[key] = watch
                self._publish(uow.emitted)
            elif events:
                async with self._uow() as uow:
                    uow.emit(events)
                    await uow.commit()
                self._publish(uow.emitted)
            if signal_id is not None:
                made.append(signal_id)
                self._wake(bot_id)
        for key in watches.keys() - still_open:
            await self._forget(key)  # flat now: nothing left to watch
        return made

    async def _forget(self, key: tuple[int, str, str]) -> None:
        bot_id, account, symbol = key
        async with self._uow() as uow:
            await uow.exits.delete(bot_id, symbol, account=account)
            await uow.commit()
        self.executor.watchlist.watches.pop(key, None)

    async def _pass(self, bot: Bot, position: Position, watch: ExitWatch) -> tuple[ExitWatch, list[Event], int | None]:
        """The position's watch after this pass, the events to tell, the exit signal made."""
        now = self._clock.now()
        events: list[Event] = []
        if watch.signal_id is not None:
            async with self._uow(read_only=True) as uow:
                exit_signal = await uow.signals.get(watch.signal_id, history=False)
            if exit_signal is not None and not exit_signal.state.is_final:
                return watch, events, None  # still on its way
            # Final, and the position is still open: this try failed.
            reason = "its signal is gone"
            if exit_signal is not None:
                reason = f"signal #{exit_signal.id} {exit_signal.state.value}"
                if exit_signal.reason:
                    reason += f": {exit_signal.reason}"
                else:
                    reason += f" and {bot.name} still holds {display.signed_quantity(position.signed_quantity)}"
            delay = backoff_delay(watch.failures + 1, first=self.retry_first, cap=self.retry_cap)
            watch = watch.failed(now + timedelta(seconds=delay))
            if watch.stopped is None and report_failure(watch.failures):
                events.append(
                    ExitFailing(
                        at=now,
                        bot_name=bot.name,
                        signal_id=exit_signal.id if exit_signal is not None else None,
                        symbol=position.symbol,
                        trigger=watch.trigger or "exit",
                        failures=watch.failures,
                        reason=reason,
                        retry_in=delay,
                    )
                )
        if watch.stopped is not None:
            return watch, events, None  # a person took it over
        if watch.exiting:
            if not watch.due(now):
                return watch, events, None
            quote = await self._market.quote(bot)
            price = quote.price_for(position.side.closing_order_side) if quote and position.side else None
            signal_id, attempt = await self._exit_signal(bot, position, watch, now, watch.trigger or "exit", price)
            return watch.started(signal_id, attempt=attempt), events, signal_id

        ended = window_end(bot.config, now)
        if ended is not None:
            quote = await self._market.quote(bot)
            price = quote.price_for(position.side.closing_order_side) if quote and position.side else None
            signal_id, attempt = await self._exit_signal(bot, position, watch, now, ended, price)
            events.append(
                Notice(at=now, bot_name=bot.name, signal_id=signal_id, message=f"{bot.name}: {ended}; closing")
            )
            return watch.started(signal_id, ended, attempt), events, signal_id

        # Where the exchange holds the stop and target, it is asked whether it closed the
        # position; the levels are not watched here (trading/services/exchange_exits.py).
        exits_at = await self._exits_at(bot)
        if exits_at is ExitsAt.CLOSED:
            return watch, events, None
        quote = await self._market.quote(bot)
        if quote is None:
            if position.stop_loss is not None and exits_at is ExitsAt.MONITOR:
                watch, report = watch.quote_missed()
                if report:
                    events.append(
                        QuotesUnavailable(
                            at=now,
                            bot_name=bot.name,
                            symbol=position.symbol,
                            passes=QUOTE_MISSES_REPORTED,
                            stop_loss=str(position.stop_loss),
                        )
                    )
            return watch, events, None
        watch, back = watch.quote_seen()
        if back:
            events.append(QuotesBack(at=now, bot_name=bot.name, symbol=position.symbol))
        if trails(bot.config, position) and position.side is not None:
            trailed_from = position.stop_loss
            position = await self._trail(bot, position, quote.price_for(position.side.closing_order_side), now)
            if exits_at is ExitsAt.EXCHANGE and position.stop_loss != trailed_from:
                exits_at = await self._exits_at(bot, poll=False)  # the stop order follows the trail
                if exits_at is ExitsAt.CLOSED:
                    return watch, events, None
        if bot.config.flatten_on_daily_loss and position.side is not None:
            mark = quote.price_for(position.side.closing_order_side)
            async with self._uow(read_only=True) as uow:
                # A bot on several accounts has a daily loss limit on each (as at an entry).
                account = position.account if bot.config.accounts is not None else None
                realized = await uow.trades.realized_since(bot.id, _utc_midnight(now), account=account)
            why = daily_loss(bot.config, realized, position, mark)
            if why is not None:
                await self._pause(bot, why, now)
                signal_id, attempt = await self._exit_signal(bot, position, watch, now, why, mark)
                events.append(
                    Notice(at=now, bot_name=bot.name, signal_id=signal_id, message=f"{bot.name}: {why}; closing")
                )
                return watch.started(signal_id, why, attempt), events, signal_id
        if exits_at is ExitsAt.EXCHANGE:
            return watch, events, None  # the exchange closes it (no double close)
        trigger = exit_trigger(position, quote)
        if trigger is None:
            return watch, events, None
        message = f"{trigger.kind.value.replace('_', ' ')} {trigger.level} hit at {trigger.price}"
        signal_id, attempt = await self._exit_signal(bot, position, watch, now, message, trigger.price)
        events.append(Notice(at=now, bot_name=bot.name, signal_id=signal_id, message=f"{bot.name}: {message}; closing"))
        return watch.started(signal_id, message, attempt), events, signal_id

    async def _exits_at(self, bot: Bot, *, poll: bool = True) -> ExitsAt:
        if not self.executor.exchange_exits.may_hold(bot):
            return ExitsAt.MONITOR  # no lock taken: a long try in the bot's lane never delays the pass
        try:
            async with self._locks.hold([bot.id]) as elsewhere:
                if elsewhere:
                    # Another process runs the bot's lane (an order in hand): as below, watched here.
                    return ExitsAt.MONITOR
                return await self.executor.exchange_exits.align(bot, poll=poll)
        except Exception:
            # Watched here meanwhile: both closes are reduce-only, so it cannot close twice.
            log.exception("%s: exits on the exchange not read; the monitor watches the levels this pass", bot.name)
            return ExitsAt.MONITOR

    async def _trail(self, bot: Bot, position: Position, price: Decimal, now: datetime) -> Position:
        """The position with its trailing stop moved up to `price`'s trail, stored (under the
        bot's lock, on the position as stored: a fill meanwhile is never overwritten), or as
        it was when the trail does not tighten it."""
        instrument = await self._market.instrument_or_none(bot)
        tick = instrument.tick_size if instrument is not None else None
        if trailed(bot.config, position, price, tick) is None:
            return position
        async with self._locks.hold([bot.id]) as elsewhere, self._uow() as uow:
            if elsewhere:
                return position  # another process runs the bot's lane now: the next pass trails
            stored = await uow.positions.get(
                bot.id, position.symbol, account=position.account, multiplier=position.multiplier
            )
            level = trailed(bot.config, stored, price, tick)
            if level is None or stored.opened_at != position.opened_at:
                return position
            stored.stop_loss = level
            await uow.positions.save(bot.id, stored)
            uow.emit(
                [
                    StopMoved(
                        at=now,
                        bot_name=bot.name,
                        symbol=stored.symbol,
                        stop_loss=stored.stop_loss,
                        take_profit=stored.take_profit,
                    )
                ]
            )
            await uow.commit()
        self.executor.watchlist.changed()
        self._publish(uow.emitted)
        return stored

    async def _pause(self, bot: Bot, why: str, now: datetime) -> None:
        """The bot pauses itself (no entries until /resume), as the daily loss check does."""
        async with self._uow() as uow:
            await uow.bots.set_paused(bot.id, True, why)
            uow.emit([BotStateChanged(at=now, bot_name=bot.name, change="paused", reason=why)])
            await uow.commit()
        self.executor.watchlist.changed()
        self._publish(uow.emitted)

    async def _exit_signal(
        self, bot: Bot, position: Position, watch: ExitWatch, now: datetime, message: str, price: Decimal | None
    ) -> tuple[int, int]:
        """The close signal of the next try, and its number. A try stored by a pass that
        stopped before recording it is taken as it is; a finished one of an earlier watch of
        this position (before a repair) is passed over."""
        opened = position.opened_at.isoformat() if position.opened_at else "?"
        attempt = watch.attempts + 1
        while True:
            # A leg of a bot on several accounts names its account: two legs' exits are two.
            leg = f"{position.account}:" if bot.config.accounts is not None else ""
            alert_id = f"exit:{bot.id}:{leg}{position.symbol}:{opened}" + (f":{attempt}" if attempt > 1 else "")
            async with self._uow(read_only=True) as uow:
                seen = await uow.signals.find_duplicate(bot.id, alert_id=alert_id, body_hash="-", since=now)
                found = await uow.signals.get(seen, history=False) if seen is not None else None
            if found is None:
                break
            if not found.state.is_final:
                return found.id, attempt
            attempt += 1
        price = price or position.average_price or position.stop_loss or position.take_profit
        if price is None:
            raise AssertionError(f"{bot.name}'s open position has no price at all")
        if attempt > 1:
            message = f"{message}; try {attempt}"
        stored = await queue_synthetic(
            self._uow, self._clock, bot, SignalAction.CLOSE, price, MONITOR, message, alert_id, SignalSource.MONITOR
        )
        return stored.id, attempt


def _utc_midnight(at: datetime) -> datetime:
    """Where the daily loss limit's day starts (max_daily_loss counts from midnight UTC)."""
    return at.replace(hour=0, minute=0, second=0, microsecond=0)
