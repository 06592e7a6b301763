"""One rig for the service tests: the services as the process builds them (the bootstrap)
over a store and a broker.

The store is the in-memory fake unit of work (`make_rig(FakeDatabase())`, tests/unit/services)
or a real database (`make_rig(database)`, tests/integration), so a scenario reads the same
over both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tests.support.fake_broker import FakeBroker
from trading.domain.config import BotConfig
from trading.domain.events import Event
from trading.domain.orders import OrderStatus
from trading.domain.position import Position
from trading.domain.records import OrderRecord, StoredSignal
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalState
from trading.services.actions import Actor
from trading.services.bootstrap import bootstrap
from trading.services.execution import Checkpoint
from trading.services.ports import Broker
from trading.services.runner import Runner, RunnerOptions
from trading.services.use_cases import UseCases

ALICE = Actor("discord:1", "alice", can_approve=True)
BOB = Actor("discord:2", "bob", can_approve=True)
MALLORY = Actor("discord:666", "mallory", can_approve=False)

BOT_NAME = "SA40_RSI_Bot"
SYMBOL = "SA40"

E = TypeVar("E", bound=Event)


@dataclass
class Clock:
    t: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 10, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.t


@dataclass
class Rig:
    db: Any  # FakeDatabase or db.database.Database: the tests reach into either
    broker: Any  # a FakeBroker unless the test hands in another Broker
    clock: Clock
    events: list[Event]
    # Not started: a test starts it when it wants signals moved for it.
    runner: Runner
    use_cases: UseCases  # what the runner and the faces call

    async def bot(self, **overrides: object) -> int:
        fields: dict[str, object] = {
            "bot_name": BOT_NAME,
            "symbol": SYMBOL,
            "mode": "auto",
            "webhook_key": "sa40_rsi_50849a3c",
            "max_positions": 3,
            "allow_pyramiding": True,
            "max_slippage_pct": "1.0",
        }
        fields.update(overrides)
        async with self.db.uow() as uow:
            bot = await uow.bots.upsert(BotConfig.parse(fields))
            await uow.commit()
        return int(bot.id)

    async def signal(self, bot_id: int, action: SignalAction, price: str = "53210.5", **kw: object) -> int:
        """Store an alert's signal as the webhook intake does, received and not yet run."""
        signal = Signal(action=action, price=Decimal(price), shape=AlertShape.RSI, time=self.clock.now(), **kw)  # type: ignore[arg-type]
        async with self.db.uow() as uow:
            stored = await uow.signals.add(
                bot_id,
                signal,
                body_hash=f"h{self.clock.now().timestamp()}{action}{kw}",
                state=SignalState.RECEIVED,
                cause="webhook",
                at=self.clock.now(),
            )
            await uow.commit()
        self.clock.t += timedelta(seconds=1)
        return int(stored.id)

    async def advance(self, signal_id: int) -> SignalState:
        """One try of the runner's, then the state the signal is in."""
        await self.use_cases.steps.advance(signal_id)
        return await self.state(signal_id)

    async def run(self, signal_id: int) -> SignalState:
        """Advance the signal as the runner would, retries included, until it settles."""
        for _ in range(10):
            result = await self.use_cases.steps.advance(signal_id)
            if result.finished:
                break
        return await self.state(signal_id)

    async def stored(self, signal_id: int) -> StoredSignal:
        async with self.db.uow() as uow:
            stored = await uow.signals.get(signal_id)
        assert stored is not None
        return stored  # type: ignore[no-any-return]

    async def state(self, signal_id: int) -> SignalState:
        return (await self.stored(signal_id)).state

    async def orders(self, signal_id: int) -> list[OrderRecord]:
        async with self.db.uow() as uow:
            return await uow.orders.list_for_signal(signal_id)  # type: ignore[no-any-return]

    async def order_statuses(self, signal_id: int) -> list[OrderStatus]:
        return [o.status for o in await self.orders(signal_id)]

    async def position(self, bot_id: int) -> Position:
        async with self.db.uow() as uow:
            return await uow.positions.get(bot_id, SYMBOL, account="Paper", multiplier=Decimal(1), for_update=False)  # type: ignore[no-any-return]

    def published(self, kind: type[E]) -> list[E]:
        """The events of this kind handed to the sinks, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def restarted(self) -> Rig:
        """A new process over the same store, broker, clock and event list."""
        return make_rig(self.db, self.broker, clock=self.clock, events=self.events)


# The runner's periodic checks out of the way (the tests call them directly).
QUIET = RunnerOptions(expiry_interval=3600, monitor_interval=3600, reconcile_interval=3600)


def make_rig(
    db: Any,
    broker: Broker | None = None,
    *,
    runner: RunnerOptions = QUIET,
    checkpoint: Checkpoint = lambda _point: None,
    clock: Clock | None = None,
    events: list[Event] | None = None,
) -> Rig:
    """The rig over `db` (the fake or a real database) and `broker` (a FakeBroker when None),
    built by the process's bootstrap."""
    used: Broker = broker if broker is not None else FakeBroker()
    the_clock = clock if clock is not None else Clock()
    published: list[Event] = events if events is not None else []
    services = bootstrap(
        db.uow, lambda _name: used, the_clock, published.extend, checkpoint=checkpoint, retry_delay=0.01, runner=runner
    )
    return Rig(db, used, the_clock, published, services.runner, services.use_cases)
