"""The composition root of the services: builds the executor, the use cases and the runner
once, each given its collaborators (callbacks included) in its constructor.

The process (`bot/app.py`) and the tests (over the fake store or a real database:
tests/support/service_rig.py, tests/integration/web_support.py) build the services here, so
there is one wiring.

The runner moves the signals the use cases store, and the use cases wake the runner after
their commits: the callbacks handed down are closures over the runner built last, so no
object is finished after it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from trading.domain.events import Event
from trading.services.access import Access
from trading.services.commands import Commands
from trading.services.context import Context
from trading.services.decisions import Decisions
from trading.services.execution import Checkpoint, Executor
from trading.services.locks import BotLocks
from trading.services.market_view import MarketView
from trading.services.monitors import Monitors
from trading.services.orders import Orders
from trading.services.ports import BrokerProvider, Clock, UnitOfWorkFactory
from trading.services.queries import Queries
from trading.services.reconciliation import Reconciliation
from trading.services.repair import Repairs
from trading.services.runner import Runner, RunnerOptions
from trading.services.steps import SignalSteps
from trading.services.use_cases import UseCases


@dataclass(frozen=True, slots=True)
class Services:
    use_cases: UseCases  # what the runner and the faces (web, Discord) call
    runner: Runner  # its wake_bot wakes a bot's lane after a commit (the intake's too)


def bootstrap(
    uow: UnitOfWorkFactory,
    brokers: BrokerProvider,
    clock: Clock,
    publish: Callable[[list[Event]], None],
    *,
    checkpoint: Checkpoint = lambda _point: None,
    retry_delay: float = 2.0,
    runner: RunnerOptions = RunnerOptions(),
) -> Services:
    """`checkpoint`: the crash tests' hook, called at named points. `retry_delay`: the
    executor's first wait before asking the broker again."""

    # Bound to the runner below, before any of these can be called (nothing runs until the
    # runner starts, and a commit needs a running use case).
    def wake(bot_id: int) -> None:
        lanes.wake_bot(bot_id)

    def position_in_doubt(bot_id: int) -> None:
        lanes.reconcile_soon(bot_id)

    executor = Executor(
        uow,
        brokers,
        clock,
        publish,
        checkpoint=checkpoint,
        retry_delay=retry_delay,
        position_in_doubt=position_in_doubt,
    )

    def look_again(bot_id: int) -> None:
        lanes.look_again(bot_id)

    locks = BotLocks(runner.cluster, released=look_again)
    ctx = Context(
        uow, brokers, clock, publish, executor, wake, locks, Access(uow, clock), MarketView(executor), checkpoint
    )
    decisions = Decisions(ctx)
    use_cases = UseCases(
        executor,
        SignalSteps(ctx, decisions),
        decisions,
        Commands(ctx),
        Queries(ctx),
        Monitors(ctx),
        Reconciliation(ctx),
        Repairs(ctx),
        Orders(ctx),
    )
    lanes = Runner(use_cases, uow, runner)
    return Services(use_cases, lanes)
