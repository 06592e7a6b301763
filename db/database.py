"""The database handle built at start-up: engine, session factory, SQLite's writer lock."""

from __future__ import annotations

import asyncio
import contextlib
import os
from functools import partial
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db import sqlite_driver
from db.uow import READ_ONLY, SqlUnitOfWork
from db.writer_lock import WriterLock
from trading.domain.credentials import Passphrases
from trading.services.clock import SystemClock
from trading.services.ports import Clock

_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
# Any constant will do; it only has to be the same for every signaldesk process.
_MIGRATION_LOCK = 0x5D_DB_0001
# How long a SQLite transaction waits for another process's writer (say `signaldesk bots
# import` beside `serve`) before failing; the wait happens on aiosqlite's thread.
BUSY_TIMEOUT_MS = 5000
# How long opening a PostgreSQL connection may take before it fails. asyncpg's own default
# is 60 s: during an outage (a server restarting, a host gone) every request that needs a
# new connection would hang that long, and its sender with it. A connection on a working
# server opens in milliseconds.
CONNECT_TIMEOUT_SECONDS = 2.0


class DatabaseUrlError(ValueError):
    pass


def _check_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # ArgumentError repeats the URL, password included: say what is wrong without it.
        raise DatabaseUrlError(
            "DATABASE_URL is not a database URL; expected sqlite+aiosqlite:///path.db "
            "or postgresql+asyncpg://user:password@host/name"
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in _DRIVERS:
        raise DatabaseUrlError(f"DATABASE_URL: unsupported database {backend!r}; use sqlite or postgresql")
    if driver != _DRIVERS[backend]:
        raise DatabaseUrlError(
            f"DATABASE_URL: {backend} needs the async driver {_DRIVERS[backend]!r} "
            f"({backend}+{_DRIVERS[backend]}://...), not {driver!r}"
        )
    return backend


def _sqlite_path(url: str) -> str:
    """The file a SQLite URL names; an in-memory database when it names none."""
    return make_url(url).database or ":memory:"


class Database:
    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        passphrases: Passphrases | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.backend = _check_url(url)
        self.url = url
        # What the repositories stamp rows with when the caller gave no time (updated_at).
        self.clock: Clock = clock or SystemClock()
        # Hashes bot passphrases with the server's secret key; None: storing one is refused.
        self.passphrases = passphrases
        # No reset on return: every unit of work ends its transaction itself (commit, or
        # rollback in `_end`) before it hands the connection back, so the pool's own
        # rollback would be one more round trip to the driver's thread for nothing.
        connect_args: dict[str, Any] = {"timeout": connect_timeout} if self.backend == "postgresql" else {}
        # On SQLite the driver-level connection is db/sqlite_driver.py's: one thread hand-off
        # a statement instead of aiosqlite's three or four.
        creator = (
            {"async_creator": partial(sqlite_driver.connect, _sqlite_path(url))} if self.backend == "sqlite" else {}
        )
        self.engine: AsyncEngine = create_async_engine(
            url, echo=echo, pool_reset_on_return=None, connect_args=connect_args, **creator
        )
        # The engine of urgent units (the webhook intake's batches). On PostgreSQL it is a
        # pool of its own, its connection kept between batches: the main pool (5 + 10
        # overflow) is shared by one execution lane per bot, and a burst for 60 bots would
        # otherwise queue the intake's commit behind them for a connection. On SQLite the
        # writer lock's urgent lane does that job (and a second engine on ":memory:" would
        # be another database), so it is the main engine.
        self.urgent_engine: AsyncEngine = self.engine
        # Bot id -> name, shared by every unit of work: a name never changes (bots are
        # upserted by name) and ids are never reused, so signal intake skips a query.
        self.bot_names: dict[int, str] = {}
        # SQLite has one writer at a time anyway: writers of this process queue here, in
        # order (urgent ones first), instead of polling in SQLite's busy handler.
        # PostgreSQL locks rows.
        self.write_lock: WriterLock | None = None
        if self.is_sqlite:
            self.write_lock = WriterLock()
            _configure_sqlite(self.engine)
        else:
            self.urgent_engine = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=4, pool_reset_on_return=None, connect_args=connect_args
            )

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    def uow(self, *, read_only: bool = False, urgent: bool = False) -> SqlUnitOfWork:
        """A unit of work. A `read_only` one never waits for writers: on SQLite it takes
        no writer lock (WAL readers see the last commit), on PostgreSQL its transaction is
        READ ONLY. An `urgent` writer (the webhook intake) goes ahead of the writers queued
        on SQLite's writer lock, and takes its connection from a pool of its own on
        PostgreSQL (see urgent_engine)."""
        return SqlUnitOfWork(self, read_only=read_only, urgent=urgent)

    async def upgrade(self) -> None:
        """Apply every Alembic migration (what `signaldesk db upgrade` and start-up do)."""
        from db.migrate import run_upgrade

        async with self.engine.connect() as conn:
            if self.is_postgresql:
                # Two processes starting together must not both create the tables.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            await conn.run_sync(run_upgrade)
            await conn.commit()

    async def ping(self) -> None:
        """Raise when the database cannot be reached."""
        async with self.uow(read_only=True) as uow:
            conn = await uow.session()
            await conn.execute(text("SELECT 1"))

    async def probe(self, write: bool) -> None:
        """Raise when the database does not answer; with `write`, when it does not take a
        committed write either (a full disk still answers reads). The storage watch's probe."""
        if not write:
            await self.ping()
            return
        async with self.uow(urgent=True) as uow:
            conn = await uow.session()
            if self.is_sqlite:
                # The header's user_version (unused by signaldesk) written with its own value:
                # the smallest write SQLite commits to disk, and it fails when the disk is full.
                version = int((await conn.execute(text("PRAGMA user_version"))).scalar_one())
                await conn.execute(text(f"PRAGMA user_version = {version}"))
            else:
                # PostgreSQL's failures (a server restarting, gone) are a connection's: a
                # transaction on a fresh or pooled connection is the test.
                await conn.execute(text("SELECT 1"))
            await uow.commit()

    async def size_bytes(self) -> int:
        """The database's size on disk in bytes: on SQLite its files (the database, its WAL and
        shared-memory index), on PostgreSQL pg_database_size. 0 for an in-memory SQLite."""
        if self.is_sqlite:
            path = make_url(self.url).database
            if not path or path == ":memory:" or path.startswith("file:"):
                return 0
            return await asyncio.to_thread(_file_sizes, path)
        async with self.uow(read_only=True) as uow:
            conn = await uow.session()
            return int((await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one())

    def open_connections(self) -> int:
        """Connections the pools hold open now (in use or idle), over both engines."""
        total = 0
        engines = {id(e): e for e in (self.engine, self.urgent_engine)}.values()
        for engine in engines:
            pool: Any = engine.pool
            with contextlib.suppress(AttributeError):  # a pool kind without counts (none of ours)
                total += int(pool.checkedin()) + int(pool.checkedout())
        return total

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.urgent_engine is not self.engine:
            await self.urgent_engine.dispose()


def _file_sizes(path: str) -> int:
    total = 0
    for name in (path, path + "-wal", path + "-shm"):
        try:
            total += os.stat(name).st_size
        except FileNotFoundError:
            continue
    return total


def _configure_sqlite(engine: AsyncEngine) -> None:
    # SQLAlchemy's documented recipe for pysqlite/aiosqlite transactions: the driver issues
    # no BEGIN of its own (autocommit mode), and the "begin" event issues ours.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The connection is in autocommit mode already (db/sqlite_driver.py opens it so).
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",  # first: switching to WAL may have to wait
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",  # a commit is on disk before anyone is told it happened
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Sent with the transaction's first statement, in its hand-off to the connection's
        # thread (db/sqlite_driver.py), not in one of its own.
        driver: sqlite_driver.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        if conn.get_execution_options().get(READ_ONLY):
            driver.begin_with_next("BEGIN")
        else:
            # A writer takes SQLite's write lock at BEGIN: a deferred transaction that
            # upgrades from read to write later fails with SQLITE_BUSY instead of waiting.
            driver.begin_with_next("BEGIN IMMEDIATE")
