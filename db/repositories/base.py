"""What every repository shares: the unit of work's session and dialect-aware upserts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from db.uow import SqlUnitOfWork


def utcnow() -> datetime:
    return datetime.now(UTC)


class Repository:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def _session(self) -> AsyncSession:
        return await self._uow.session()

    @property
    def _is_postgresql(self) -> bool:
        return self._uow.database.is_postgresql

    def _insert(self, table: Table) -> Any:
        """INSERT with ON CONFLICT support (both dialects have it; the generic insert has not)."""
        return postgresql.insert(table) if self._is_postgresql else sqlite.insert(table)
