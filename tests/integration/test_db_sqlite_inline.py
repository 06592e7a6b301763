"""SQLite run on the event loop's thread (db/sqlite_inline.py): no worker thread, another
process's writer waited for without stalling the loop, and every statement of a signal's
execution run prepared."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.app import build
from bot.settings import Settings
from db import sqlite_inline
from db.database import Database
from tests.integration.test_service import make_rig
from trading.domain.config import BotConfig
from trading.domain.signals import SignalAction, SignalState
from trading.services.intake import ACCEPTED, AlertRequest


def _db_path(db: Database) -> str:
    database = db.engine.url.database
    assert database is not None
    return database


async def test_statements_run_on_the_loop_thread_without_a_worker(sqlite_database: Database) -> None:
    before = {t.ident for t in threading.enumerate()}
    seen: list[int | None] = []
    event.listen(
        sqlite_database.engine.sync_engine, "before_cursor_execute", lambda *_a: seen.append(threading.get_ident())
    )
    async with sqlite_database.uow() as uow:
        await uow.control.get()
        await uow.commit()
    assert seen and set(seen) == {threading.get_ident()}
    assert {t.ident for t in threading.enumerate()} <= before  # no aiosqlite worker thread was started


async def test_another_writer_is_waited_for_while_the_loop_keeps_running(sqlite_database: Database) -> None:
    other = sqlite3.connect(_db_path(sqlite_database), isolation_level=None)  # stands in for another process
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async def write() -> None:
        async with sqlite_database.uow() as uow:
            await uow.control.get()  # the transaction begins here, with BEGIN IMMEDIATE
            await uow.commit()

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    assert not writing.done()  # still waiting for the other writer...
    assert ticks >= 10  # ...and the loop ran meanwhile
    other.execute("COMMIT")
    await asyncio.wait_for(writing, 2.0)
    ticking.cancel()
    other.close()


async def test_a_writer_held_past_the_timeout_is_a_clear_error(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_TIMEOUT_MS", 150)
    other = sqlite3.connect(_db_path(sqlite_database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Exception, match="database is locked"):
            async with sqlite_database.uow() as uow:
                await uow.control.get()
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with sqlite_database.uow() as uow:  # the failed begin left nothing behind
        assert not (await uow.control.get()).halted


async def test_a_signals_execution_runs_every_statement_prepared(sqlite_database: Database) -> None:
    """SQLAlchemy's per-execution work costs ten times the statement: every statement of a
    signal's execution must run prepared (db/prepared.py), none through SQLAlchemy's
    execution, which is where a statement built per call (or one SQLAlchemy cannot cache,
    as the dialects' ON CONFLICT) would show."""
    rig = make_rig(sqlite_database)
    bot = await rig.bot(max_positions=1, allow_pyramiding=False)
    actions = [SignalAction.ENTER_LONG, SignalAction.CLOSE_LONG] * 2
    sids = [await rig.signal(bot, action) for action in actions]
    for sid in sids[:2]:  # the first round prepares
        assert await rig.run(sid) is SignalState.EXECUTED
    prepared: list[str] = []
    through_sqlalchemy: list[str] = []

    def check(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        # A prepared statement has no SQLAlchemy execution context.
        (prepared if context is None else through_sqlalchemy).append(statement)

    event.listen(sqlite_database.engine.sync_engine, "before_cursor_execute", check)
    for sid in sids[2:]:
        assert await rig.run(sid) is SignalState.EXECUTED
    assert through_sqlalchemy == []
    assert len(prepared) >= 20  # the listener did see the statements: an entry and a close
    assert (await rig.position(bot)).quantity == Decimal(0)


async def test_a_commit_runs_aside_only_while_no_writer_waits(sqlite_database: Database) -> None:
    """Alone, a commit's fsync runs on a thread (the loop serves meanwhile); with another
    writer queued it runs at once on the loop, so the lock passes on without a hand-off;
    a unit of work made with commit_here (the intake's) commits on the loop even alone."""
    commits: list[str] = []  # the thread each COMMIT ran on

    def trace(dbapi_connection: Any, _record: Any) -> None:
        raw = dbapi_connection.driver_connection._conn
        raw.set_trace_callback(lambda sql: commits.append(threading.current_thread().name) if sql == "COMMIT" else None)

    event.listen(sqlite_database.engine.sync_engine, "connect", trace)
    await sqlite_database.engine.dispose()  # new connections, traced

    async def write(pause: bool = False, here: bool = False) -> None:
        async with sqlite_database.uow(commit_here=here) as uow:
            await uow.control.get()
            if pause:
                await asyncio.sleep(0.01)  # the other writer queues up meanwhile
            await uow.commit()

    await write()
    await asyncio.gather(write(pause=True), write())
    loop_thread = threading.current_thread().name
    assert commits[0].startswith("sqlite-commit")  # alone: aside
    assert commits[1] == loop_thread  # the second writer was waiting: at once
    assert commits[2].startswith("sqlite-commit")  # alone again
    await write(here=True)
    await write()
    assert commits[3:] == [loop_thread, commits[0]]  # asked for: here; the next one aside again


@asynccontextmanager
async def _writer_lock_held(db: Database) -> AsyncIterator[None]:
    """A transaction holds SQLite's writer lock for the block, then commits; whatever
    queued for the lock meanwhile runs after it."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.uow() as uow:
            await uow.control.get()  # the transaction began: the writer lock is held
            holding.set()
            await release.wait()
            await uow.commit()

    holder = asyncio.create_task(hold())
    await holding.wait()
    try:
        yield
    finally:
        release.set()
        await holder


async def test_an_urgent_unit_of_work_writes_ahead_of_queued_ones(sqlite_database: Database) -> None:
    """Real transactions at SQLite's writer lock: the urgent one (the intake's) goes first
    among those waiting, and a queued ordinary one goes next, before further urgent ones."""
    order: list[str] = []

    async def write(name: str, urgent: bool = False) -> None:
        async with sqlite_database.uow(urgent=urgent) as uow:
            await uow.control.get()
            order.append(name)
            await uow.commit()

    async with _writer_lock_held(sqlite_database):
        tasks = [asyncio.create_task(write(f"execution {n}")) for n in range(3)]
        await asyncio.sleep(0.01)
        tasks += [asyncio.create_task(write(f"intake {n}", urgent=True)) for n in range(2)]
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == ["intake 0", "execution 0", "intake 1", "execution 1", "execution 2"]
    assert sqlite_database.write_lock is not None and not sqlite_database.write_lock.locked()


async def test_serves_intake_stores_an_alert_ahead_of_queued_executions(tmp_path: Path) -> None:
    """As `signaldesk serve` wires it: while other transactions queue for the writer lock
    (executions, in production), an alert is stored at the next turn, not after them all."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        discord_token=None,
        telegram_bot_token=None,
        webhook_rate_per_key=0,
        webhook_rate_per_ip=0,
    )
    app = build(settings)
    await app.database.upgrade()
    db = app.database
    async with db.uow() as uow:
        await uow.bots.upsert(
            BotConfig.parse({"bot_name": "Urgent", "symbol": "SA40", "webhook_key": "urgent_key_6c1f", "mode": "auto"})
        )
        await uow.commit()
    order: list[str] = []

    async def queued(n: int) -> None:
        async with db.uow() as uow:
            stored = await uow.signals.ids_in_states([SignalState.RECEIVED])
            order.append(f"queued {n} " + ("after the alert" if stored else "before the alert"))
            await uow.commit()

    async def alert() -> None:
        body = json.dumps({"action": "RSI_LONG_ENTRY", "price": 53000, "time": datetime.now(UTC).isoformat()}).encode()
        result = await app.intake.receive(
            AlertRequest("urgent_key_6c1f", body, "application/json", "127.0.0.1", datetime.now(UTC))
        )
        assert result.outcome == ACCEPTED, result

    try:
        async with _writer_lock_held(db):
            tasks = [asyncio.create_task(queued(n)) for n in range(3)]
            await asyncio.sleep(0.01)
            tasks.append(asyncio.create_task(alert()))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        # The alert's answer waited for one transaction (the holder), not for four.
        assert order == [f"queued {n} after the alert" for n in range(3)]
    finally:
        await app.intake.aclose()
        await db.dispose()
