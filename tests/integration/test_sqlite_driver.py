"""db/sqlite_driver.py under SQLAlchemy's aiosqlite dialect, on a real database file: what a
statement returns, how errors and transactions behave, and that a statement is one call on
the connection's thread (the reason the module exists)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db import sqlite_driver
from db.database import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    yield database
    await database.dispose()


async def test_rows_rowcount_and_returning(db: Database) -> None:
    async with db.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a'), ('b'), ('c') RETURNING id, name"))
        assert [tuple(r) for r in inserted] == [(1, "a"), (2, "b"), (3, "c")]
        updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id >= 2"))
        assert updated.rowcount == 2
        many = await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "d"}, {"n": "e"}])
        assert many.rowcount == 2
    async with db.engine.connect() as conn:
        result = await conn.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert result.fetchone() == (1, "a")
        assert result.fetchmany(2) == [(2, "b!"), (3, "c!")]
        assert result.fetchall() == [(4, "d"), (5, "e")]
        assert result.fetchone() is None


async def test_a_constraint_error_rolls_back_the_transaction(db: Database) -> None:
    with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed: t\.name"):
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_the_database_is_in_wal_mode_and_writes_survive_a_new_engine(tmp_path: Path, db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('kept')"))
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await db.dispose()
    again = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    try:
        async with again.engine.connect() as conn:
            assert (await conn.execute(text("SELECT name FROM t"))).scalar() == "kept"
    finally:
        await again.dispose()


async def test_a_statement_is_one_call_on_the_connections_thread(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    run = sqlite_driver.Connection.run

    async def counting(self: sqlite_driver.Connection, call, *args):  # type: ignore[no-untyped-def]
        calls.append(call.__name__)
        return await run(self, call, *args)

    monkeypatch.setattr(sqlite_driver.Connection, "run", counting)
    async with db.engine.connect() as conn:
        calls.clear()
        async with conn.begin():
            await conn.execute(text("INSERT INTO t (name) VALUES ('a') RETURNING id"))
            await conn.execute(text("SELECT * FROM t"))
    # The BEGIN went with the first statement: a transaction is its statements and its commit.
    assert calls == ["_execute", "_execute", "_commit"]
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1


async def test_a_transaction_begins_with_its_first_statement_in_the_same_hand_off(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[str] = []
    call = sqlite_driver._Thread.call

    def counting(self: sqlite_driver._Thread, function):  # type: ignore[no-untyped-def]
        handed.append(function.func.__name__)
        return call(self, function)

    monkeypatch.setattr(sqlite_driver._Thread, "call", counting)
    async with db.engine.connect() as conn:
        handed.clear()
        async with conn.begin():
            pass  # nothing run: nothing sent, neither BEGIN nor COMMIT
        assert handed == []
        async with conn.begin():
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert handed == ["_begun", "_commit"]
        with pytest.raises(IntegrityError):
            async with conn.begin():
                await conn.execute(text("INSERT INTO t (name) VALUES ('b')"))
                await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))  # a repeat: refused
        assert handed[2:] == ["_begun", "_execute", "_rollback"]
        # The transaction was one: the first insert went with the refused one.
        assert (await conn.execute(text("SELECT name FROM t ORDER BY name"))).scalars().all() == ["a"]


async def test_a_closed_connection_refuses_with_sqlites_own_error(tmp_path: Path) -> None:
    connection = await sqlite_driver.connect(str(tmp_path / "closed.db"))
    await connection.close()
    await connection.close()  # twice is harmless, as the DB-API asks
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        await connection.execute("SELECT 1")


async def test_a_cancelled_statement_leaves_the_pool_usable(db: Database) -> None:
    async def slow() -> None:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000) SELECT count(*) FROM n"
                )
            )

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('after')"))
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t"))).scalar() == "after"
