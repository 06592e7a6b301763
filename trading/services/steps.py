"""One try at a stored signal: the runner's lane of the signal's bot calls it, and tries
again later when the result is not finished."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from trading.domain.approval_scope import Route, needs_position, route
from trading.domain.legs import account_of
from trading.domain.position import Position
from trading.domain.records import Bot, StoredSignal
from trading.domain.signals import SignalState
from trading.services.context import Context, UseCase
from trading.services.decisions import Decisions
from trading.services.execution import READY, Footing, RunResult
from trading.services.ports import UnitOfWork

log = logging.getLogger("signaldesk.runner")

# How many of a bot's unfinished signals one try looks through for other accounts' legs
# while one leg waits for its account.
OTHER_LEGS_PER_TRY = 256


class SignalSteps(UseCase):
    """A received signal that waits for a person (approve mode; with `approve = "entries"`
    only an entry) asks for approval (`decisions`); any other goes to the executor. Each try holds the bot's lock (reconciliation and repair take it
    too, so that no fill lands between their reading the broker and their reading us)."""

    def __init__(self, ctx: Context, decisions: Decisions) -> None:
        super().__init__(ctx)
        self._decisions = decisions

    async def advance(self, signal_id: int) -> RunResult:
        """Move a stored signal as far as it can go now: one try."""
        async with self._uow(read_only=True) as uow:
            stored = await uow.signals.get(signal_id, history=False)
            bot = await uow.bots.get(stored.bot_id) if stored else None
        if stored is None or bot is None:
            return RunResult(True, note="no such signal")
        async with self._locks.of(bot.id):
            async with self._uow(read_only=True) as uow:
                way, held = await _route(uow, stored, bot)
            return await self._run(stored, bot, way, held)

    async def run_next(
        self, bot_id: int, states: Sequence[SignalState], *, finished: int | None = None
    ) -> tuple[int, RunResult | None] | None:
        """One try at the bot's oldest signal in one of `states` (the runner's lane): the
        signal, its bot and what its start needs are read in one read, under the bot's lock,
        then the signal is moved as far as it can go now. (its id, the result); the result is
        None when it is the signal `finished` (reported finished, yet still the oldest);
        None when the bot has no such signal."""
        async with self._locks.of(bot_id):
            async with self._uow(read_only=True) as uow:
                stored = await uow.signals.oldest(bot_id, states)
                bot = await uow.bots.get(bot_id) if stored is not None else None
                if stored is None or bot is None:
                    return None
                if stored.id == finished:
                    return stored.id, None
                way, held = await _route(uow, stored, bot)
                starts = stored.state in READY and way is Route.AT_ONCE
                footing = await self.executor.read_footing(uow, stored, bot) if starts else None
            try:
                result = await self._run(stored, bot, way, held, footing)
            except Exception:
                # A bug or an outage: the signal stays where it is, holding its bot's place.
                log.exception("signal %s: unexpected error; will retry", stored.id)
                return stored.id, RunResult(False)
            if not result.finished and bot.config.accounts is not None:
                await self._other_accounts(bot, states, stored)
            return stored.id, result

    async def _other_accounts(self, bot: Bot, states: Sequence[SignalState], held: StoredSignal) -> None:
        """A leg waits for its account (its broker down, an order in doubt): the bot's legs on
        its other accounts go on meanwhile, each account's in arrival order (the bot's lock
        held). The held leg keeps the lane's place and is tried again after its backoff."""
        waiting = {account_of(held.signal, bot.config)}
        async with self._uow(read_only=True) as uow:
            ids = (await uow.signals.ids_in_states(states, bot_id=bot.id))[:OTHER_LEGS_PER_TRY]
        for signal_id in ids:
            if signal_id == held.id:
                continue
            async with self._uow(read_only=True) as uow:
                stored = await uow.signals.get(signal_id, history=False)
                if stored is None or stored.state not in states:
                    continue
                account = account_of(stored.signal, bot.config)
                if account in waiting:
                    continue  # behind a leg of its own account that waits
                way, position = await _route(uow, stored, bot)
            try:
                result = await self._run(stored, bot, way, position)
            except Exception:
                log.exception("signal %s: unexpected error; will retry", stored.id)
                result = RunResult(False)
            if not result.finished:
                waiting.add(account)

    async def _run(
        self, stored: StoredSignal, bot: Bot, way: Route, held: Position | None, footing: Footing | None = None
    ) -> RunResult:
        """One try at a signal, the bot's lock held. `way`: where it goes (`held`: the open
        position it was judged on, when that mattered); `footing`: what its start needs,
        when read under this same hold of the lock."""
        if way is Route.CARD:
            await self._decisions.request_approval(stored, bot)
            return RunResult(True, note="awaiting approval")
        if way is Route.SPLIT and held is not None:
            await self._decisions.request_approval(stored, bot, close_first=held)
            return RunResult(True, note="closing at once; the new entry awaits approval")
        return await self.executor.run_stored(stored, bot, footing)


async def _route(uow: UnitOfWork, stored: StoredSignal, bot: Bot) -> tuple[Route, Position | None]:
    """Where a signal goes now (a received one may wait for a person; any other runs), and
    the bot's position when that depended on it."""
    config = bot.config
    action = stored.signal.action
    if stored.state is not SignalState.RECEIVED:
        return Route.AT_ONCE, None
    position = None
    if needs_position(config.mode, config.approve, action):
        account = account_of(stored.signal, config)  # a leg's own position
        position = await uow.positions.get(
            bot.id, config.symbol_on(account), account=account, multiplier=Decimal(1), for_update=False
        )
    held = position.side if position is not None and not position.is_flat else None
    return route(config.mode, config.approve, action, held, config.exit_on_opposite_signal), position
