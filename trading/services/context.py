"""What every use case shares: the unit of work, the brokers, the clock, the event bus,
the runner's wake-up, the bots' locks, who may do what (Access) and the market as it looks
now (MarketView); built once by the bootstrap (`trading/services/bootstrap.py`) and passed
to each use case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from trading.domain.events import Event
from trading.services.access import Access
from trading.services.execution import Checkpoint, Executor
from trading.services.locks import BotLocks
from trading.services.market_view import MarketView
from trading.services.ports import BrokerProvider, Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class Context:
    uow: UnitOfWorkFactory
    brokers: BrokerProvider
    clock: Clock
    publish: Callable[[list[Event]], None]
    executor: Executor
    # Called with a bot's id after a commit that gave the bot work (the runner's wake_bot).
    wake: Callable[[int], None]
    # One per bot: held by a signal's try and by reconciliation, never both at once.
    locks: BotLocks
    access: Access
    market: MarketView
    checkpoint: Checkpoint = lambda _point: None  # crash-test hook


class UseCase:
    """The base of each use case: it takes its collaborators from the Context, and nothing
    more (what they share as behaviour lives in the collaborators)."""

    def __init__(self, ctx: Context) -> None:
        self._uow = ctx.uow
        self._brokers = ctx.brokers
        self._clock = ctx.clock
        self._publish = ctx.publish
        self.executor = ctx.executor
        self._wake = ctx.wake
        self._checkpoint = ctx.checkpoint
        self._locks = ctx.locks
        self._access = ctx.access
        self._market = ctx.market
