"""The fake unit of work (tests/support/fake_uow.py) agrees with the SQL one on the basics.

The same scenarios run against both: service tests over the fake are only worth what this
agreement is worth. When a repository changes, change the fake until these pass again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from db.database import Database
from db.errors import DuplicateOrder, NotFound
from tests.conftest import sqlite_url
from tests.support.clock import FixedClock
from tests.support.fake_uow import FakeDatabase
from trading.domain.config import BotConfig
from trading.domain.credentials import key_hash
from trading.domain.exchange_exits import ExchangeExit, ExitKind, Placement
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.position import Fill, Position
from trading.domain.records import AuditEntry, Decision, DuplicateProbe, NewSignal, OrderRecord, WebhookLogEntry
from trading.domain.signals import AlertShape, IllegalSignalTransition, Signal, SignalAction, SignalState
from trading.domain.values import OrderSide, PositionSide
from trading.services.ports import Clock, UnitOfWorkFactory
from trading.services.transitions import set_signal_state

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@asynccontextmanager
async def _store(kind: str, tmp_path: Path, clock: Clock | None = None) -> AsyncIterator[UnitOfWorkFactory]:
    """A unit-of-work factory over an empty store: the fake, or a migrated SQLite database."""
    if kind == "fake":
        yield FakeDatabase(clock).uow
        return
    db = Database(sqlite_url(tmp_path / "signaldesk.db"), clock=clock)
    try:
        await db.upgrade()
        # SqlUnitOfWork declares its repositories as its SQL classes, which mypy does not take
        # for the Protocol's (invariant) attributes: db/ is not typed against the ports yet.
        yield db.uow  # type: ignore[misc]
    finally:
        await db.dispose()


@pytest.fixture(params=["fake", "sqlite"])
async def uow(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UnitOfWorkFactory]:
    async with _store(request.param, tmp_path) as factory:
        yield factory


@pytest.mark.parametrize("kind", ["fake", "sqlite"])
async def test_a_row_stamped_without_a_given_time_takes_the_injected_clock(kind: str, tmp_path: Path) -> None:
    # Issue 23: the repositories read the clock they are given, never the wall clock.
    async with _store(kind, tmp_path, FixedClock(T0)) as uow:
        async with uow() as u:
            await u.audit.add(AuditEntry("cli", "halt", "all", True, "news"))
            await u.commit()
        async with uow(read_only=True) as u:
            [entry] = await u.audit.list()
    assert entry.at is not None and entry.at.replace(tzinfo=UTC) == T0


async def _bot(uow: UnitOfWorkFactory, name: str = "SA40_RSI_Bot") -> int:
    config = BotConfig.parse({"bot_name": name, "symbol": "SA40", "webhook_key": f"{name.lower()}_key_0001"})
    async with uow() as u:
        bot = await u.bots.upsert(config)
        await u.commit()
    return bot.id


def _signal(alert_id: str | None = None) -> Signal:
    return Signal(
        action=SignalAction.ENTER_LONG,
        price=Decimal("53210.5"),
        shape=AlertShape.RSI,
        time=T0,
        alert_id=alert_id,
        passphrase="secret",
    )


async def test_a_signal_moves_along_the_transition_table_and_keeps_its_history(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    async with uow() as u:
        first = await u.signals.add(
            bot, _signal("a1"), body_hash="b1", state=SignalState.RECEIVED, cause="webhook", at=T0
        )
        second = await u.signals.add(bot, _signal(), body_hash="b2", state=SignalState.RECEIVED, cause="webhook", at=T0)
        await u.commit()
    assert second.id > first.id
    assert first.signal.passphrase is None and first.bot_name == "SA40_RSI_Bot"

    later = T0 + timedelta(seconds=1)
    async with uow() as u:
        await set_signal_state(u, first.id, SignalState.QUEUED, cause="auto mode", at=later, reason="queued")
        await set_signal_state(u, first.id, SignalState.EXECUTING, cause="engine", at=later)
        with pytest.raises(IllegalSignalTransition, match="from executing to approved"):
            await set_signal_state(u, first.id, SignalState.APPROVED, cause="x", at=later)
        # The repository only stores: a move from a state not among `sources` answers the state it is in.
        assert (
            await u.signals.set_state(
                first.id, SignalState.APPROVED, sources=[SignalState.PENDING_APPROVAL], cause="x", at=later
            )
            is SignalState.EXECUTING
        )
        with pytest.raises(NotFound, match="signal 999"):
            await set_signal_state(u, 999, SignalState.QUEUED, cause="x", at=later)
        await u.commit()

    async with uow() as u:
        stored = await u.signals.get(first.id)
        bare = await u.signals.get(first.id, history=False)
        missing = await u.signals.get(999)
        executing = await u.signals.ids_in_states([SignalState.EXECUTING, SignalState.RECEIVED])
        listed = await u.signals.list(bot_id=bot)
        by_alert = await u.signals.find_duplicate(bot, alert_id="a1", body_hash="zz", since=later)
        by_body = await u.signals.find_duplicate(bot, alert_id=None, body_hash="b2", since=T0)
        too_old = await u.signals.find_duplicate(bot, alert_id=None, body_hash="b2", since=later)
    assert stored is not None and bare is not None and missing is None
    assert (stored.state, stored.updated_at, stored.reason) == (SignalState.EXECUTING, later, "queued")
    assert stored.signal.alert_id == "a1" and stored.signal.price == Decimal("53210.5")
    assert [(c.state, c.cause, c.reason) for c in stored.history] == [
        (SignalState.RECEIVED, "webhook", None),
        (SignalState.QUEUED, "auto mode", "queued"),
        (SignalState.EXECUTING, "engine", None),
    ]
    assert bare.history == () and bare.state is SignalState.EXECUTING
    assert executing == [first.id, second.id]
    assert [s.id for s in listed] == [second.id, first.id]
    assert (by_alert, by_body, too_old) == (first.id, second.id, None)


async def test_a_fill_is_recorded_once_and_the_position_reads_back_as_saved(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    fill = Fill("sd-1-1:1", OrderSide.BUY, 2, Decimal("100.5"), T0)
    async with uow() as u:
        flat = await u.positions.get(bot, "SA40", account="Paper", multiplier=Decimal(5))
        assert (flat.is_flat, flat.multiplier, flat.realized_pnl) == (True, Decimal(5), Decimal(0))
        assert await u.positions.add_fill(bot, "sd-1-1", fill) is True
        assert await u.positions.add_fill(bot, "sd-1-1", fill) is False
        position = Position.flat("SA40", account="Paper")
        position.apply_fill(fill)
        position.stop_loss = Decimal("99.5")
        await u.positions.save(bot, position)
        await u.commit()
    async with uow() as u:
        assert await u.positions.add_fill(bot, "sd-1-1", fill) is False  # also in a later unit
        held = await u.positions.get(bot, "SA40", account="Paper", multiplier=Decimal(1), for_update=False)
        (opened,) = await u.positions.list_open()
    assert (held.side, held.quantity, held.average_price, held.stop_loss) == (
        PositionSide.LONG,
        2,
        Decimal("100.5"),
        Decimal("99.5"),
    )
    assert held.applied_fill_ids == {"sd-1-1:1"} and held.opened_at == T0
    assert opened[0] == bot and opened[1].quantity == 2


async def test_the_first_decision_wins(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    async with uow() as u:
        stored = await u.signals.add(bot, _signal(), body_hash="b", state=SignalState.RECEIVED, cause="webhook", at=T0)
        await u.approvals.create(stored.id, T0, T0 + timedelta(minutes=15))
        await u.commit()
    async with uow() as u:
        assert [a.signal_id for a in await u.approvals.list_pending()] == [stored.id]
        assert await u.approvals.decide(stored.id, Decision.APPROVED, "discord:1", T0, name="Ann " + "n" * 200) is True
        assert await u.approvals.decide(stored.id, Decision.REJECTED, "discord:2", T0, name="Bo") is False
        with pytest.raises(NotFound, match="no approval for signal 999"):
            await u.approvals.decide(999, Decision.APPROVED, "discord:1", T0)
        await u.commit()
    async with uow() as u:
        approval = await u.approvals.get(stored.id)
        pending = await u.approvals.list_pending()
    assert approval is not None
    assert (approval.decision, approval.decided_by, approval.decided_at) == (Decision.APPROVED, "discord:1", T0)
    assert approval.decided_by_name == ("Ann " + "n" * 200)[:128]  # the winner's name, as long as it fits
    assert pending == []


async def test_decided_approvals_are_listed_newest_first_from_a_time_on(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    ids = []
    async with uow() as u:
        for n in range(4):
            s = await u.signals.add(
                bot, _signal(), body_hash=f"d{n}", state=SignalState.RECEIVED, cause="webhook", at=T0
            )
            await u.approvals.create(s.id, T0, T0 + timedelta(minutes=15))
            ids.append(s.id)
        await u.commit()
    async with uow() as u:
        for n, signal_id in enumerate(ids[:3]):
            await u.approvals.decide(signal_id, Decision.REJECTED, "web:bob", T0 + timedelta(minutes=n))
        await u.commit()
    async with uow() as u:
        since_one = await u.approvals.list_decided(T0 + timedelta(minutes=1))
        first_two = await u.approvals.list_decided(T0, limit=2)
    assert [a.signal_id for a in since_one] == [ids[2], ids[1]]
    assert [(a.signal_id, a.decided_by) for a in first_two] == [(ids[2], "web:bob"), (ids[1], "web:bob")]


async def test_the_first_of_two_approvals_and_the_reminder_are_recorded_once(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    async with uow() as u:
        stored = await u.signals.add(bot, _signal(), body_hash="b", state=SignalState.RECEIVED, cause="webhook", at=T0)
        await u.approvals.create(stored.id, T0, T0 + timedelta(minutes=15))
        await u.commit()
    async with uow() as u:
        assert await u.approvals.approve_first(stored.id, "discord:1", t1) is True
        assert await u.approvals.approve_first(stored.id, "discord:2", t2) is False
        assert await u.approvals.mark_reminded(stored.id, t1) is True
        assert await u.approvals.mark_reminded(stored.id, t2) is False
        with pytest.raises(NotFound, match="no approval for signal 999"):
            await u.approvals.approve_first(999, "discord:1", t1)
        await u.commit()
    async with uow() as u:
        approval = await u.approvals.get(stored.id)
        assert approval is not None
        assert (approval.first_approved_by, approval.first_approved_at, approval.reminded_at) == ("discord:1", t1, t1)
        assert approval.decision is None and [a.signal_id for a in await u.approvals.list_pending()] == [stored.id]
        await u.approvals.clear_first(stored.id)
        assert await u.approvals.approve_first(stored.id, "discord:2", t2) is True
        assert await u.approvals.decide(stored.id, Decision.APPROVED, "discord:1", t2) is True
        # Decided: no first approval nor reminder is recorded any more.
        await u.approvals.clear_first(stored.id)
        assert await u.approvals.approve_first(stored.id, "discord:3", t2) is False
        await u.commit()
    async with uow() as u:
        approval = await u.approvals.get(stored.id)
    assert approval is not None and approval.first_approved_by is None and approval.decided_by == "discord:1"


async def test_an_order_is_stored_once_by_its_client_id(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    async with uow() as u:
        stored = await u.signals.add(bot, _signal(), body_hash="b", state=SignalState.RECEIVED, cause="webhook", at=T0)
        order = OrderRecord(
            signal_id=stored.id,
            bot_id=bot,
            client_order_id=f"sd-{stored.id}-1",
            leg_index=1,
            leg_kind=LegKind.OPEN,
            position_side=PositionSide.LONG,
            symbol="SA40",
            side=OrderSide.BUY,
            quantity=1,
            created_at=T0,
        )
        added = await u.orders.add(order)
        with pytest.raises(DuplicateOrder):
            await u.orders.add(order)
        with pytest.raises(NotFound):
            await u.orders.update(replace(order, client_order_id="sd-404-1"))
        await u.orders.update(replace(added, status=OrderStatus.SUBMITTED, updated_at=T0))
        await u.commit()
    async with uow() as u:
        (read,) = await u.orders.list_for_signal(stored.id)
    assert (read.id, read.status, read.created_at, read.updated_at) == (added.id, OrderStatus.SUBMITTED, T0, T0)


async def test_changes_not_committed_are_discarded(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    async with uow() as u:
        await u.signals.add(bot, _signal(), body_hash="left", state=SignalState.RECEIVED, cause="webhook", at=T0)
        await u.bots.set_paused(bot, True, "left without commit")
    with pytest.raises(RuntimeError, match="boom"):
        async with uow() as u:
            await u.signals.add(bot, _signal(), body_hash="raised", state=SignalState.RECEIVED, cause="webhook", at=T0)
            raise RuntimeError("boom")
    async with uow() as u:
        await u.signals.add(bot, _signal(), body_hash="rolled", state=SignalState.RECEIVED, cause="webhook", at=T0)
        await u.rollback()
    async with uow() as u:
        kept = await u.signals.add(bot, _signal(), body_hash="kept", state=SignalState.RECEIVED, cause="webhook", at=T0)
        await u.commit()
    async with uow() as u:
        signals = await u.signals.list()
        stored_bot = await u.bots.get(bot)
    assert [s.id for s in signals] == [kept.id]
    assert stored_bot is not None and not stored_bot.paused


async def test_concurrent_writers_never_lose_each_others_commits(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    first_read = asyncio.Event()

    async def slow_writer() -> None:
        async with uow() as u:
            assert await u.bots.get(bot) is not None
            first_read.set()
            await asyncio.sleep(0.05)  # the other writer tries meanwhile
            await u.bots.set_needs_attention(bot, True, "slow")
            await u.commit()

    async def quick_writer() -> None:
        await first_read.wait()
        async with uow() as u:
            await u.bots.set_paused(bot, True, "quick")
            await u.commit()

    await asyncio.gather(slow_writer(), quick_writer())
    async with uow() as u:
        stored = await u.bots.get(bot)
    assert stored is not None
    assert (stored.needs_attention, stored.paused) == (True, True)


async def test_the_batch_forms_agree_with_the_single_ones(uow: UnitOfWorkFactory) -> None:
    """get_by_key_hashes, signals.add_many / find_duplicates and webhook_logs.add_many: what
    the intake's group commit stores a batch with, each as its single form would answer."""
    one, two = await _bot(uow, "SA40_RSI_Bot"), await _bot(uow, "US30_RSI_Bot")
    later = T0 + timedelta(seconds=1)
    items = [
        NewSignal(one, _signal("a1"), body_hash="b1", state=SignalState.RECEIVED, cause="webhook", at=T0),
        NewSignal(two, _signal(), body_hash="b1", state=SignalState.RECEIVED, cause="webhook", at=T0),
        NewSignal(one, _signal(), body_hash="b2", state=SignalState.RECEIVED, cause="webhook", at=later),
        # Alike in bot, body and instant: told apart by their order.
        NewSignal(two, _signal(), body_hash="b3", state=SignalState.RECEIVED, cause="webhook", at=later),
        NewSignal(two, _signal(), body_hash="b3", state=SignalState.RECEIVED, cause="webhook", at=later),
    ]
    async with uow() as u:
        hashes = [key_hash("sa40_rsi_bot_key_0001"), key_hash("us30_rsi_bot_key_0001"), key_hash("nobody")]
        bots = await u.bots.get_by_key_hashes(hashes, for_update=True)
        stored = await u.signals.add_many(items)
        await u.webhook_logs.add_many(
            [WebhookLogEntry(T0, "203.0.113.9", 200, "accepted", None, f"body {s.id}", s.bot_id, s.id) for s in stored]
        )
        await u.commit()
    assert {h: b.name for h, b in bots.items()} == {hashes[0]: "SA40_RSI_Bot", hashes[1]: "US30_RSI_Bot"}
    assert [(s.bot_id, s.bot_name, s.created_at) for s in stored] == [
        (one, "SA40_RSI_Bot", T0),
        (two, "US30_RSI_Bot", T0),
        (one, "SA40_RSI_Bot", later),
        (two, "US30_RSI_Bot", later),
        (two, "US30_RSI_Bot", later),
    ]
    assert [s.id for s in stored] == sorted(s.id for s in stored) and len({s.id for s in stored}) == 5
    assert all(s.signal.passphrase is None for s in stored)

    probes = [
        DuplicateProbe(one, "a1", "zz", since=later),  # the same alert id, ever
        DuplicateProbe(two, "a1", "zz", since=T0),  # another bot's alert id
        DuplicateProbe(one, None, "b2", since=T0),  # the same body within the window
        DuplicateProbe(one, None, "b1", since=later),  # the same body, too old
        DuplicateProbe(two, None, "b3", since=T0),  # the lowest of two
        DuplicateProbe(two, None, "b2", since=T0),  # another bot's body
    ]
    async with uow(read_only=True) as u:
        found = await u.signals.find_duplicates(probes)
        singles = [
            await u.signals.find_duplicate(p.bot_id, alert_id=p.alert_id, body_hash=p.body_hash, since=p.since)
            for p in probes
        ]
        got = [await u.signals.get(s.id) for s in stored]
        logged = [await u.webhook_logs.for_signal(s.id) for s in stored]
        assert await u.signals.find_duplicates([]) == [] and await u.bots.get_by_key_hashes([]) == {}
    assert found == singles == [stored[0].id, None, stored[2].id, None, stored[3].id, None]
    assert [g.id if g else None for g in got] == [s.id for s in stored]
    assert all(g is not None and [c.cause for c in g.history] == ["webhook"] for g in got)
    assert [entry.body if entry else None for entry in logged] == [f"body {s.id}" for s in stored]


async def test_exchange_exits_are_one_record_per_position_replaced_and_deleted(uow: UnitOfWorkFactory) -> None:
    bot = await _bot(uow)
    record = ExchangeExit(
        bot_id=bot,
        account="Paper",
        symbol="SA40",
        opened_at=T0,
        base_client_id="sd-7-1",
        revision=1,
        quantity=2,
        side=OrderSide.SELL,
        stop_price=Decimal("52800.5"),
        target_price=None,
    )
    async with uow() as u:
        await u.exchange_exits.save(record)
        await u.commit()
    placed = replace(record, revision=2, target_price=Decimal("54000"), placement=Placement.PLACED)
    async with uow() as u:
        assert await u.exchange_exits.get(bot, "SA40", account="Paper") == record
        assert await u.exchange_exits.get(bot, "SA40", account="other") is None
        await u.exchange_exits.save(placed)
        await u.commit()
    async with uow() as u:
        found = await u.exchange_exits.get(bot, "SA40", account="Paper")
        assert (
            found == placed
            and found is not None
            and found.client_ids
            == {
                ExitKind.STOP: "sd-7-1-2s",
                ExitKind.TARGET: "sd-7-1-2t",
            }
        )
        await u.exchange_exits.delete(bot, "SA40", account="Paper")
        await u.commit()
    async with uow() as u:
        assert await u.exchange_exits.get(bot, "SA40", account="Paper") is None
