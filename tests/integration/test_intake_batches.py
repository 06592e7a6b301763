"""The intake's group commit on both databases: a failed batch answers nobody "accepted"
unless stored, dedupe inside one batch, a hang-up inside a batch, a pause committed before
a batch, a constant number of statements per batch, and the urgent lane of its unit of work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pytest
from sqlalchemy import event

from db.database import Database
from tests.integration.web_support import KEY, SystemClock, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig
from trading.domain.records import Bot, WebhookLogEntry
from trading.services.alerts_first import AlertsFirst
from trading.services.intake import AlertRequest, Intake, IntakeResult
from web.errors import status_for


class _GatedFactory:
    """db.uow, each unit held at its entry until the gate opens: the requests queued
    meanwhile are all in the first batch, whatever the scheduling."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.gate = asyncio.Event()
        self.options: list[dict[str, Any]] = []

    def __call__(self, **options: Any) -> Any:
        self.options.append(options)
        return _GatedUnit(self.db.uow(**options), self.gate)


class _GatedUnit:
    def __init__(self, unit: Any, gate: asyncio.Event) -> None:
        self.unit, self.gate = unit, gate

    async def __aenter__(self) -> Any:
        await self.gate.wait()
        return await self.unit.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.unit.__aexit__(exc_type, exc, tb)


def alert(key: str = KEY, **fields: Any) -> AlertRequest:
    now = datetime.now(UTC)
    data = {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": now.isoformat()} | fields
    raw = json.dumps(data).encode()
    return AlertRequest(key, raw, "application/json", "203.0.113.9", now)


async def bots(db: Database, count: int) -> list[Bot]:
    """`count` bots; bot n's webhook key is key_of(n)."""
    made = []
    async with db.uow() as uow:
        for n in range(count):
            config = BotConfig.parse(
                {"bot_name": f"BOT{n}_RSI", "symbol": f"SYM{n}", "webhook_key": key_of(n), "mode": "auto"}
            )
            made.append(await uow.bots.upsert(config))
        await uow.commit()
    return made


def key_of(n: int) -> str:
    return f"bot{n}_key_0123456789"


async def queued(intake: Intake, requests: Sequence[AlertRequest]) -> list[asyncio.Task[IntakeResult]]:
    """The requests' tasks, each run up to its wait for the committer."""
    tasks = [asyncio.create_task(intake.receive(r)) for r in requests]
    for _ in range(3):
        await asyncio.sleep(0)
    assert not any(t.done() for t in tasks)
    return tasks


async def stored(db: Database) -> tuple[dict[int, int], list[WebhookLogEntry]]:
    """The signals (id -> bot id) and the webhook log, oldest first."""
    async with db.uow(read_only=True) as uow:
        signals = {s.id: s.bot_id for s in await uow.signals.list(limit=1000)}
        rows = list(reversed(await uow.webhook_logs.list(limit=1000)))
    return signals, rows


class _Commits:
    """Counts the commits of the urgent units' engine (the intake's)."""

    def __init__(self, db: Database, fail_first: int = 0) -> None:
        self.engine = db.urgent_engine.sync_engine
        self.count = 0
        self.fail_first = fail_first
        event.listen(self.engine, "commit", self)

    def __call__(self, _conn: Any) -> None:
        self.count += 1
        if self.count <= self.fail_first:
            raise OSError("the disk said no to this commit")

    def close(self) -> None:
        event.remove(self.engine, "commit", self)


# ---------------------------------------------------------------- a failed batch


async def test_a_batch_whose_insert_fails_stores_each_alert_on_its_own_and_answers_none_accepted_unless_stored(
    database: Database,
) -> None:
    a, b = await bots(database, 2)
    woken: list[int] = []
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES, wake=woken.append)

    def poison(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.startswith("INSERT INTO signals ") and "POISON" in repr(parameters):
            raise OSError("the database refused this alert")

    engine = database.urgent_engine.sync_engine
    event.listen(engine, "before_cursor_execute", poison)
    commits = _Commits(database)
    try:
        first = alert(key_of(0), id="a-1")
        tasks = await queued(
            intake,
            [
                first,
                alert(key_of(0), id="POISON-1", price=1),
                alert(key_of(1), price=2),
                AlertRequest(key_of(1), b"not json", "application/json", "203.0.113.9", first.received_at),
                alert(key_of(0), id="a-1", price=3),  # repeats the first
                alert(key_of(1), price=4),
            ],
        )
        factory.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await intake.aclose()
    finally:
        event.remove(engine, "before_cursor_execute", poison)
        commits.close()

    ok_a, poisoned, ok_b, refused, repeat, ok_b2 = results
    # The batch stored nothing; then each alert alone: the poisoned one fails by itself (503).
    assert isinstance(poisoned, OSError)
    assert isinstance(ok_a, IntakeResult) and isinstance(ok_b, IntakeResult) and isinstance(ok_b2, IntakeResult)
    assert (ok_a.outcome, ok_b.outcome, ok_b2.outcome) == ("accepted",) * 3
    assert isinstance(refused, IntakeResult) and (refused.code, refused.log_error) == ("not_json", None)
    assert isinstance(repeat, IntakeResult) and (repeat.outcome, repeat.signal_id) == ("duplicate", ok_a.signal_id)
    assert commits.count == 5  # one per alert stored alone; the batch's and the poisoned one's never came
    signals, rows = await stored(database)
    # Every "accepted" is stored, nothing else is, and no half of the batch.
    assert signals == {ok_a.signal_id: a.id, ok_b.signal_id: b.id, ok_b2.signal_id: b.id}
    assert [(r.outcome, r.signal_id) for r in rows] == [
        ("accepted", ok_a.signal_id),
        ("accepted", ok_b.signal_id),
        ("refused", None),
        ("duplicate", ok_a.signal_id),
        ("accepted", ok_b2.signal_id),
    ]
    assert sorted(woken) == sorted([a.id, b.id, b.id])


async def test_a_batch_whose_commit_fails_is_stored_again_alert_by_alert(database: Database) -> None:
    [bot] = await bots(database, 1)
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    commits = _Commits(database, fail_first=1)
    try:
        tasks = await queued(intake, [alert(key_of(0), price=n) for n in range(1, 6)])
        factory.gate.set()
        results = await asyncio.gather(*tasks)
    finally:
        commits.close()

    assert [r.outcome for r in results] == ["accepted"] * 5
    assert commits.count == 1 + 5
    signals, rows = await stored(database)
    assert signals == {r.signal_id: bot.id for r in results}
    assert sorted(r.signal_id for r in rows if r.signal_id is not None) == sorted(signals)


async def test_a_refusal_whose_log_row_cannot_be_written_is_still_answered(database: Database) -> None:
    await bots(database, 1)
    intake = Intake(database.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    commits = _Commits(database, fail_first=10)
    try:
        result = await intake.receive(AlertRequest(key_of(0), b"{", "application/json", "1.2.3.4", datetime.now(UTC)))
        with pytest.raises(OSError, match="said no"):
            await intake.receive(alert(key_of(0)))
    finally:
        commits.close()
    assert (result.outcome, result.code) == ("refused", "not_json")
    assert result.log_error == "OSError: the disk said no to this commit"
    assert await stored(database) == ({}, [])


# ---------------------------------------------------------------- inside one batch


async def test_100_identical_alerts_in_one_batch_make_one_signal_per_bot(database: Database) -> None:
    a, b = await bots(database, 2)
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    same_a, same_b = alert(key_of(0)), alert(key_of(1))
    commits = _Commits(database)
    try:
        tasks = await queued(intake, [same_a] * 100 + [same_b] * 100)
        factory.gate.set()
        results = await asyncio.gather(*tasks)
    finally:
        commits.close()

    assert commits.count == 1
    for group in (results[:100], results[100:]):
        assert [r.outcome for r in group] == ["accepted"] + ["duplicate"] * 99
        assert {r.signal_id for r in group} == {group[0].signal_id}
    signals, rows = await stored(database)
    assert signals == {results[0].signal_id: a.id, results[100].signal_id: b.id}
    assert len(rows) == 200 and all(r.status == 200 for r in rows)
    assert [r.signal_id for r in rows] == [results[0].signal_id] * 100 + [results[100].signal_id] * 100


async def test_a_sender_hanging_up_inside_a_batch_still_gets_its_alert_stored_and_its_bot_woken(
    database: Database,
) -> None:
    a, b = await bots(database, 2)
    woken: list[int] = []
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES, wake=woken.append)
    tasks = await queued(intake, [alert(key_of(0), price=1), alert(key_of(1), price=2), alert(key_of(0), price=3)])
    tasks[1].cancel()  # the sender of bot b's only alert hangs up
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]

    factory.gate.set()
    await intake.aclose()  # the batch, no longer awaited by that sender, is stored

    assert [t.result().outcome for t in (tasks[0], tasks[2])] == ["accepted", "accepted"]
    signals, rows = await stored(database)
    assert sorted(signals.values()) == [a.id, a.id, b.id]
    assert [r.outcome for r in rows] == ["accepted"] * 3
    assert sorted(woken) == [a.id, b.id]  # once per bot, after the commit


async def test_a_pause_committed_before_a_batch_refuses_its_alerts(database: Database) -> None:
    bot = await add_bot(database)
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    tasks = await queued(intake, [alert(KEY, price=n) for n in range(1, 4)])
    async with database.uow() as uow:  # the /pause, committed while the batch waits
        await uow.bots.set_paused(bot.id, True, "by hand")
        await uow.commit()

    factory.gate.set()
    results = await asyncio.gather(*tasks)

    assert [(r.outcome, r.code) for r in results] == [("refused", "bot_paused")] * 3
    signals, rows = await stored(database)
    assert signals == {} and [(r.status, r.outcome) for r in rows] == [(409, "refused")] * 3
    assert factory.options == [{"urgent": True}]


# ---------------------------------------------------------------- statements per batch


async def _statements_of_one_batch(database: Database, intake: Intake, factory: _GatedFactory, n: int) -> int:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 3)[0])

    engine = database.urgent_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    commits = _Commits(database)
    factory.gate = asyncio.Event()
    try:
        # n alerts over 6 bots, one of them repeated, one refused for its key.
        requests = [alert(key_of(i % 6), price=1000 * n + i) for i in range(n - 2)]
        requests += [requests[0], alert("no_such_key_0123456789")]
        tasks = await queued(intake, requests)
        factory.gate.set()
        results = await asyncio.gather(*tasks)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        commits.close()
    assert [r.outcome for r in results] == ["accepted"] * (n - 2) + ["duplicate", "refused"]
    assert commits.count == 1
    print(f"\n{database.backend}: {n} alerts for 6 bots in one transaction: {len(statements)} statements {statements}")
    return len(statements)


async def test_a_batch_costs_the_same_statements_whatever_its_size(database: Database) -> None:
    await bots(database, 6)
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)

    small = await _statements_of_one_batch(database, intake, factory, 12)
    large = await _statements_of_one_batch(database, intake, factory, 120)

    assert small == large
    # The bots, the dedupe, the signals, their state changes, the log rows (SQLite's BEGIN
    # goes with the first of them, db/sqlite_driver.py; PostgreSQL's is the driver's own).
    assert large == 5


# ---------------------------------------------------------------- the urgent lane


async def test_an_urgent_unit_goes_ahead_of_the_queued_writers(database: Database) -> None:
    await add_bot(database)
    order: list[str] = []

    async def write(name: str, urgent: bool = False) -> None:
        async with database.uow(urgent=urgent) as uow:
            await uow.control.get()
            order.append(name)
            await uow.commit()

    if database.is_sqlite:
        async with database.uow() as holder:
            await holder.control.get()  # holds SQLite's writer
            tasks = [asyncio.create_task(write(f"execution {n}")) for n in range(3)]
            for _ in range(3):
                await asyncio.sleep(0)
            tasks.append(asyncio.create_task(write("intake", urgent=True)))
            for _ in range(3):
                await asyncio.sleep(0)
            await holder.commit()
        await asyncio.gather(*tasks)
        assert order == ["intake", "execution 0", "execution 1", "execution 2"]
        return
    # PostgreSQL: no writer lock, but the main pool (5 + 10) may be all taken by execution
    # lanes; the urgent unit has a connection of its own all the same.
    taken = [await database.engine.connect() for _ in range(15)]
    try:
        await write("intake", urgent=True)
    finally:
        for conn in taken:
            await conn.close()
    assert order == ["intake"]


@pytest.mark.parametrize("when", ["queued", "handed the lock"])
async def test_a_writer_cancelled_while_waiting_leaks_neither_the_lock_nor_a_connection(
    sqlite_database: Database, when: str
) -> None:
    lock = sqlite_database.write_lock
    assert lock is not None

    async def write(urgent: bool) -> None:
        async with sqlite_database.uow(urgent=urgent) as uow:
            await uow.control.get()
            await uow.commit()

    async with sqlite_database.uow() as holder:
        await holder.control.get()
        waiter = asyncio.create_task(write(urgent=True))
        for _ in range(3):
            await asyncio.sleep(0)
        assert lock.waiting == 1
        if when == "queued":
            waiter.cancel()
            await holder.commit()
        else:
            await holder.commit()  # the lock is handed to the waiter, which has not run yet
            waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert not lock.locked() and lock.waiting == 0
    assert sqlite_database.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await write(urgent=False)  # the database still takes writers


async def test_a_failed_commit_leaves_no_transaction_open_behind_it(database: Database) -> None:
    """SQLAlchemy marks a transaction whose commit failed inactive, and would hand its
    connection back to the pool still inside it: the unit of work discards it instead."""
    await add_bot(database)
    commits = _Commits(database, fail_first=1)
    try:
        with pytest.raises(OSError, match="said no"):
            async with database.uow(urgent=True) as uow:
                await uow.bots.set_paused(1, True, "lost with its commit")
                await uow.commit()
    finally:
        commits.close()
    if database.is_sqlite:
        # Another process can write at once: nobody holds SQLite's write lock.
        with contextlib.closing(sqlite3.connect(database.engine.url.database or "", timeout=0)) as other:
            other.execute("BEGIN IMMEDIATE")
            other.rollback()
    for urgent in (True, False):
        async with database.uow(urgent=urgent) as uow:
            assert (await uow.bots.get(1)) is not None and not (await uow.bots.get(1)).paused  # type: ignore[union-attr]
            await uow.bots.set_needs_attention(1, False)
            await uow.commit()


async def test_when_the_database_fails_everything_a_batch_gives_up_after_a_few_lone_tries(database: Database) -> None:
    await bots(database, 1)
    factory = _GatedFactory(database)
    intake = Intake(factory, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    commits = _Commits(database, fail_first=1000)
    try:
        requests = [alert(key_of(0), price=n) for n in range(1, 8)]
        requests.append(AlertRequest(key_of(0), b"{", "application/json", "203.0.113.9", requests[0].received_at))
        tasks = await queued(intake, requests)
        factory.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        commits.close()

    assert commits.count == 1 + 3  # the batch, then three alerts alone; the rest without a try
    assert all(isinstance(r, OSError) for r in results[:-1])
    # A refusal is answered all the same, saying its log row is missing.
    refused = results[-1]
    assert isinstance(refused, IntakeResult) and refused.code == "not_json" and refused.log_error
    assert await stored(database) == ({}, [])


# ---------------------------------------------------------------- alerts before executions


async def test_the_intake_holds_the_lanes_back_until_its_answers_are_out(database: Database) -> None:
    await bots(database, 1)
    gate = AlertsFirst(settle=0, at_most=3600)
    quiet_when_woken: list[bool] = []
    intake = Intake(
        database.uow,
        SystemClock(),
        status_of=status_for,
        passphrases=TEST_PASSPHRASES,
        wake=lambda _bot_id: quiet_when_woken.append(gate.quiet),
        alerts_first=gate,
    )
    refused = await intake.refuse(alert(key_of(0)), "rate_limited", "too many")
    assert refused.outcome == "refused"
    result = await intake.receive(alert(key_of(0)))
    assert result.outcome == "accepted"
    # The bot was woken after the commit, while the answer was still on its way: a lane
    # asking for its turn then would have waited.
    assert quiet_when_woken == [False]
    async with asyncio.timeout(5):
        await gate.turn()  # and once the answer is out, its turn comes
    assert gate.quiet
