"""The SQLAlchemy unit of work: one connection, one transaction.

A Core connection, not an ORM session: the repositories write Core statements only. The
same statements run on SQLite (aiosqlite) and PostgreSQL (asyncpg); the differences are
only in how a transaction begins (see Database and `session`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from db.repositories.accounts import SqlAccountRepository
from db.repositories.approvals import SqlApprovalRepository
from db.repositories.bots import SqlBotRepository
from db.repositories.control import SqlControlRepository
from db.repositories.events import SqlEventRepository
from db.repositories.exchange_exits import SqlExchangeExitRepository
from db.repositories.exits import SqlExitWatchRepository
from db.repositories.instruments import SqlInstrumentRepository
from db.repositories.logs import SqlAuditRepository, SqlWebhookLogRepository
from db.repositories.orders import SqlOrderRepository
from db.repositories.paper import SqlPaperLedger
from db.repositories.people import SqlPeopleRepository
from db.repositories.positions import SqlPositionRepository
from db.repositories.sign_ins import SqlSignInRepository
from db.repositories.signals import SqlSignalRepository
from db.repositories.trades import SqlTradeRepository
from trading.domain.events import Event

if TYPE_CHECKING:
    from db.database import Database

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

# The execution option that marks a read-only unit's connection; the SQLite "begin" event
# reads it to issue a deferred BEGIN instead of BEGIN IMMEDIATE.
READ_ONLY = "signaldesk_read_only"


class UnitOfWorkClosed(RuntimeError):
    pass


class SqlUnitOfWork:
    """`async with db.uow() as uow: ...; await uow.commit()`. Leaving the block without
    committing rolls back. A writing unit on SQLite holds the database's writer lock from
    its first statement until commit, rollback or exit."""

    def __init__(self, database: Database, *, read_only: bool = False, urgent: bool = False) -> None:
        self.database = database
        self.read_only = read_only
        self.urgent = urgent  # ahead of the queued writers (see Database.uow)
        self._entered = False
        self._conn: AsyncConnection | None = None
        self._holds_write_lock = False
        self._commit_failed = False
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
        self.exits = SqlExitWatchRepository(self)
        self.exchange_exits = SqlExchangeExitRepository(self)
        self.people = SqlPeopleRepository(self)
        self.events = SqlEventRepository(self)
        self.accounts = SqlAccountRepository(self)
        self.sign_ins = SqlSignInRepository(self)
        self._outbox: list[Event] = []
        # After a commit: the events emitted in it, numbered, to be handed to the sinks.
        self.emitted: list[Event] = []

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
        await self._end()

    async def session(self) -> AsyncConnection:
        """The connection, inside an open transaction (for the repositories only)."""
        if not self._entered:
            raise UnitOfWorkClosed("use the unit of work inside `async with db.uow() as uow:`")
        if self._conn is None:
            lock = None if self.read_only else self.database.write_lock
            if lock is not None:
                # Before taking a connection: a queued writer must not hold one of the pool's.
                await lock.acquire(urgent=self.urgent)
                self._holds_write_lock = True
            try:
                engine = self.database.urgent_engine if self.urgent else self.database.engine
                conn = self._conn = await engine.connect()
                if self.read_only:
                    options: dict[str, Any] = {READ_ONLY: True}
                    if self.database.is_postgresql:
                        options["postgresql_readonly"] = True
                    await conn.execution_options(**options)
                await conn.begin()  # BEGIN IMMEDIATE on SQLite for a writer, under the lock
            except BaseException:
                await self._end()
                raise
        return self._conn

    async def execute(self, stmt: Executable, params: Params = None) -> Any:
        """Run a statement in this unit's transaction."""
        conn = await self.session()
        return await conn.execute(stmt, params)

    def emit(self, events: Iterable[Event]) -> None:
        """Store these events in this unit's transaction, at its commit (the transactional
        outbox): an event is stored exactly when the change it tells of is."""
        if self.read_only:
            raise UnitOfWorkClosed("a read-only unit of work cannot emit events")
        self._outbox.extend(events)

    async def commit(self) -> None:
        if not self._entered:
            raise UnitOfWorkClosed("commit outside `async with db.uow()`")
        try:
            outbox, self._outbox = self._outbox, []
            stored = await self.events.add_many(outbox)
            if self._conn is not None:
                try:
                    await self._conn.commit()
                except BaseException:
                    self._commit_failed = True  # see _close
                    raise
            self.emitted = stored
            # Only committed rows may enter the shared cache: SQLite reuses a rolled-back id.
            self.database.bot_names.update(self.bot_names)
        finally:
            await self._end()  # after a failed commit: rolled back, and the next writer let in

    async def rollback(self) -> None:
        if not self._entered:
            raise UnitOfWorkClosed("rollback outside `async with db.uow()`")
        await self._end()

    async def _end(self) -> None:
        """Roll back whatever is still open, hand the connection back to the pool, then let
        the next writer in. The closing is shielded from a cancelled caller: on SQLite an
        open transaction on a pooled connection would keep the database's write lock."""
        self._outbox = []  # emitted in a transaction that did not commit: never stored, never told
        conn, self._conn = self._conn, None
        if conn is None:
            self._release()
            return
        closing = asyncio.ensure_future(_close(conn, discard=self._commit_failed))
        _CLOSING.add(closing)
        closing.add_done_callback(self._closed)
        await asyncio.shield(closing)

    def _closed(self, closing: asyncio.Future[None]) -> None:
        _CLOSING.discard(closing)
        self._release()
        if not closing.cancelled():
            closing.exception()  # retrieved here when the caller was cancelled; raised to it otherwise

    def _release(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            assert self.database.write_lock is not None
            self.database.write_lock.release()


# Closings still running after their caller was cancelled (a task is only weakly referenced).
_CLOSING: set[asyncio.Future[None]] = set()


async def _close(conn: AsyncConnection, *, discard: bool = False) -> None:
    try:
        if discard:
            # After a failed (or interrupted) commit SQLAlchemy marks the transaction inactive,
            # so neither rollback() nor the pool's reset would roll it back: the connection may
            # still be inside it (on SQLite, holding the database's write lock for the next
            # user of the pool). It is discarded instead; closing it rolls back.
            await conn.invalidate()
        elif conn.in_transaction():
            await conn.rollback()
    finally:
        await conn.close()
