"""The SQLAlchemy unit of work: one session, one transaction, the locks it took."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy.ext.asyncio import AsyncSession

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


class UnitOfWorkClosed(RuntimeError):
    pass


class SqlUnitOfWork:
    """`async with db.uow() as uow: ...; await uow.commit()`. Leaving the block without
    committing rolls back. Locks taken inside (the SQLite writer lock, position locks)
    are held until commit, rollback or exit."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._session: AsyncSession | None = None
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
        if self._session is not None:
            raise UnitOfWorkClosed("this unit of work is already open; take a fresh one from db.uow()")
        self._session = self.database.sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                try:
                    await session.rollback()
                finally:
                    await session.close()
        finally:
            self._release()

    async def session(self) -> AsyncSession:
        """The session, inside an open transaction (for the repositories only)."""
        session = self._session
        if session is None:
            raise UnitOfWorkClosed("use the unit of work inside `async with db.uow() as uow:`")
        if not self._in_transaction:
            lock = self.database.write_lock
            if lock is not None and not self._holds_write_lock:
                await lock.acquire()
                self._holds_write_lock = True
            try:
                await session.connection()  # BEGIN (IMMEDIATE, on SQLite) now, under the lock
            except BaseException:
                self._release()
                raise
            self._in_transaction = True
        return session

    async def lock_position(self, key: Hashable) -> None:
        """Hold the in-process lock of `key` until the transaction ends. Called after the
        transaction began, so on SQLite the writer lock always comes first (one order,
        no deadlock)."""
        if key in self._position_keys:
            return
        await self.database.position_locks.acquire(key)
        self._position_keys.add(key)

    async def commit(self) -> None:
        if self._session is None:
            raise UnitOfWorkClosed("commit outside `async with db.uow()`")
        try:
            await self._session.commit()
            # Only committed rows may enter the shared cache: SQLite reuses a rolled-back id.
            self.database.bot_names.update(self.bot_names)
        except BaseException:
            # End the failed transaction before letting the next writer in.
            with contextlib.suppress(Exception):
                await self._session.rollback()
            raise
        finally:
            self._release()

    async def rollback(self) -> None:
        if self._session is None:
            raise UnitOfWorkClosed("rollback outside `async with db.uow()`")
        try:
            await self._session.rollback()
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
