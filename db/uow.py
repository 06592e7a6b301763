"""The SQLAlchemy unit of work: one connection, one transaction, the locks it took.

A Core connection, not an ORM session: the repositories write Core statements only, and
the session's bookkeeping cost a fifth of every statement on the way to an order."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from db.prepared import Params
from db.repositories.approvals import SqlApprovalRepository
from db.repositories.bots import SqlBotRepository
from db.repositories.control import SqlControlRepository
from db.repositories.instruments import SqlInstrumentRepository
from db.repositories.logs import SqlAuditRepository, SqlWebhookLogRepository
from db.repositories.orders import SqlOrderRepository
from db.repositories.paper import SqlPaperLedger
from db.repositories.positions import SqlPositionRepository
from db.repositories.signals import SqlSignalRepository
from db.repositories.trades import SqlTradeRepository

if TYPE_CHECKING:
    from db.database import Database
    from db.sqlite_inline import InlineConnection


class UnitOfWorkClosed(RuntimeError):
    pass


class SqlUnitOfWork:
    """`async with db.uow() as uow: ...; await uow.commit()`. Leaving the block without
    committing rolls back. Locks taken inside (the SQLite writer lock, position locks)
    are held until commit, rollback or exit."""

    def __init__(self, database: Database, *, commit_here: bool = False, urgent: bool = False) -> None:
        self.database = database
        self._commit_here = commit_here
        self._urgent = urgent
        self._entered = False
        self._conn: AsyncConnection | None = None
        self._driver: InlineConnection | None = None  # SQLite only; its sqlite3 connection runs db.prepared
        self._in_transaction = False
        self._holds_write_lock = False
        self._position_keys: set[Hashable] = set()
        self.bot_names: dict[int, str] = {}  # seen in this unit; shared with the Database on commit
        self.bots = SqlBotRepository(self)
        self.signals = SqlSignalRepository(self)
        self.positions = SqlPositionRepository(self)
        self.orders = SqlOrderRepository(self)
        self.trades = SqlTradeRepository(self)
        self.approvals = SqlApprovalRepository(self)
        self.audit = SqlAuditRepository(self)
        self.webhook_logs = SqlWebhookLogRepository(self)
        self.control = SqlControlRepository(self)
        self.instruments = SqlInstrumentRepository(self)
        self.paper = SqlPaperLedger(self)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise UnitOfWorkClosed("this unit of work is already open; take a fresh one from db.uow()")
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        try:
            await self._close()
        finally:
            self._release()

    async def session(self) -> AsyncConnection:
        """The connection, inside an open transaction (for the repositories only)."""
        if not self._entered:
            raise UnitOfWorkClosed("use the unit of work inside `async with db.uow() as uow:`")
        if not self._in_transaction:
            lock = self.database.write_lock
            if lock is not None and not self._holds_write_lock:
                await lock.acquire(urgent=self._urgent)
                self._holds_write_lock = True
            try:
                self._conn = await self.database.engine.connect()
                await self._conn.begin()  # BEGIN (IMMEDIATE, on SQLite) now, under the lock
                if self.database.is_sqlite:
                    # The connection is checked out and began: reading it needs no await.
                    self._driver = self._conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
            except BaseException:
                await self._close()
                self._release()
                raise
            self._in_transaction = True
        assert self._conn is not None
        return self._conn

    async def execute(self, stmt: Executable, params: Params = None) -> Any:
        """Run a statement in this unit's transaction: a prebuilt one on SQLite directly
        (db/prepared.py), any other through SQLAlchemy."""
        conn = await self.session()
        if self._driver is not None and self.database.prepared is not None:
            sync = conn.sync_connection
            assert sync is not None  # open, in a transaction
            events = sync.dispatch
            observed = sync if events.before_cursor_execute or events.after_cursor_execute else None
            result = self.database.prepared.run(self._driver._conn, stmt, params, observed)
            if result is not None:
                return result
        return await conn.execute(stmt, params)

    async def _close(self) -> None:
        """Roll back whatever is still open and hand the connection back to the pool."""
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            try:
                if conn.in_transaction():
                    await conn.rollback()
            finally:
                await conn.close()

    async def lock_position(self, key: Hashable) -> None:
        """Hold the in-process lock of `key` until the transaction ends. Called after the
        transaction began, so on SQLite the writer lock always comes first (one order,
        no deadlock)."""
        if key in self._position_keys:
            return
        await self.database.position_locks.acquire(key)
        self._position_keys.add(key)

    async def commit(self) -> None:
        if not self._entered:
            raise UnitOfWorkClosed("commit outside `async with db.uow()`")
        try:
            if self._conn is not None:
                if self._commit_here and self._driver is not None:
                    self._driver.commit_here = True
                await self._conn.commit()
            # Only committed rows may enter the shared cache: SQLite reuses a rolled-back id.
            self.database.bot_names.update(self.bot_names)
        except BaseException:
            # End the failed transaction before letting the next writer in.
            with contextlib.suppress(Exception):
                await self._close()
            raise
        finally:
            try:
                await self._close()  # the connection back to the pool (nothing left after a failure)
            finally:
                self._release()

    async def rollback(self) -> None:
        if not self._entered:
            raise UnitOfWorkClosed("rollback outside `async with db.uow()`")
        try:
            await self._close()
        finally:
            self._release()

    def _release(self) -> None:
        self._in_transaction = False
        for key in self._position_keys:
            self.database.position_locks.release(key)
        self._position_keys.clear()
        if self._holds_write_lock:
            self._holds_write_lock = False
            assert self.database.write_lock is not None
            self.database.write_lock.release()
