"""The database handle built at start-up: engine, session factory, shared locks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db import sqlite_inline
from db.locks import KeyedLocks, WriterLock
from db.prepared import PreparedStatements
from db.uow import SqlUnitOfWork

_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
# Any constant will do; it only has to be the same for every signaldesk process.
_MIGRATION_LOCK = 0x5D_DB_0001


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


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.backend = _check_url(url)
        self.url = url
        if self.is_sqlite:
            connect = sqlite_inline.connector(url, commit_aside=self._nobody_waits_to_write)
            self.engine: AsyncEngine = create_async_engine(url, echo=echo, async_creator=connect)
        else:
            self.engine = create_async_engine(url, echo=echo)
        # One lock per (bot id, symbol): two signals never interleave their position updates.
        self.position_locks = KeyedLocks()
        # Bot id -> name, shared by every unit of work: a name never changes (bots are
        # upserted by name) and ids are never reused, so signal intake skips a query.
        self.bot_names: dict[int, str] = {}
        # SQLite has one writer at a time anyway; queueing writers here, in order, beats
        # SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self.write_lock: WriterLock | None = None
        if self.is_sqlite:
            self.write_lock = WriterLock()
            _configure_sqlite(self.engine)
        # Prebuilt statements run directly on SQLite (db/prepared.py); with echo on, every
        # statement goes through SQLAlchemy, which is what echoes them.
        self.prepared = PreparedStatements(self.engine.dialect) if self.is_sqlite and not echo else None

    def _nobody_waits_to_write(self) -> bool:
        return self.write_lock is not None and self.write_lock.waiting == 0

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    def uow(self, *, commit_here: bool = False, urgent: bool = False) -> SqlUnitOfWork:
        """A unit of work. On SQLite: `commit_here`, its commit runs on the loop at once, never
        handed to the commit thread (see InlineConnection.commit); `urgent`, its turn at the
        writer lock comes before other queued transactions' (see WriterLock)."""
        return SqlUnitOfWork(self, commit_here=commit_here, urgent=urgent)

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
        if self.write_lock is not None:
            async with self.write_lock:
                await self._select_one()
        else:
            await self._select_one()

    async def _select_one(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy's documented recipe: the driver must not issue BEGIN itself (it would
        # be a deferred BEGIN that fails with SQLITE_BUSY on the first write under load).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"PRAGMA busy_timeout={sqlite_inline.BUSY_TIMEOUT_MS}",  # first: switching to WAL may have to wait
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock at the start, so a transaction waits for another process's
        # writer instead of failing when it upgrades from read to write.
        sqlite_inline.begin_immediate(conn.connection.driver_connection._conn)
