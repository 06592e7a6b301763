"""What every repository shares: the unit of work and upserts that SQLAlchemy caches."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql

if TYPE_CHECKING:
    from db.uow import SqlUnitOfWork


class Repository:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        # Runs the statements, in its transaction.
        self._uow = uow

    def _now(self) -> datetime:
        """Now, by the clock the database was given (never the wall clock directly)."""
        return self._uow.database.clock.now()

    @property
    def _is_postgresql(self) -> bool:
        return self._uow.database.is_postgresql

    # SQLAlchemy 2.0 compiles the dialects' INSERT ... ON CONFLICT anew on every execution
    # (their statements have no cache key): about 1 ms each, more than a whole cached
    # statement. On SQLite a transaction holds the database's only write lock from its
    # BEGIN IMMEDIATE, so a look-up then a plain INSERT (or an UPDATE then an INSERT) is
    # just as atomic, and both are cached. PostgreSQL keeps ON CONFLICT: two of its
    # transactions could both find no row.

    async def _upsert(
        self, table: Table, key: dict[str, Any], values: dict[str, Any], returning: Column[Any] | None = None
    ) -> Any:
        """Insert the row, or update `values` on the row with this unique `key`; the
        `returning` column's value when asked for."""
        s = self._uow
        if self._is_postgresql:
            stmt = (
                postgresql.insert(table)
                .values(**key, **values)
                .on_conflict_do_update(index_elements=list(key), set_=values)
            )
            if returning is None:
                await s.execute(stmt)
                return None
            return (await s.execute(stmt.returning(returning))).scalar_one()
        result = await self._update(table, key, values, returning)
        inserted = _insert_statement(table, returning)
        if returning is None:
            if result.rowcount:
                return None
            await s.execute(inserted, key | values)
            return None
        found = result.scalar_one_or_none()
        if found is not None:
            return found
        return (await s.execute(inserted, key | values)).scalar_one()

    async def _update(
        self, table: Table, key: dict[str, Any], values: dict[str, Any], returning: Column[Any] | None = None
    ) -> Any:
        """UPDATE `values` on the row with this unique `key` (the result: its rowcount, or the
        `returning` column), through a statement built once per shape."""
        s = self._uow
        params = {f"key_{n}": v for n, v in key.items()} | {f"new_{n}": v for n, v in values.items()}
        return await s.execute(_update_statement(table, tuple(key), tuple(values), returning), params)

    async def _insert_new(
        self, table: Table, key: dict[str, Any], values: dict[str, Any], returning: Column[Any]
    ) -> Any:
        """Insert the row unless one with this unique `key` exists: the `returning`
        column's value, or None when it existed (the transaction stays usable)."""
        s = self._uow
        if self._is_postgresql:
            # Not a caught unique violation: on PostgreSQL that poisons the transaction.
            stmt = (
                postgresql.insert(table)
                .values(**key, **values)
                .on_conflict_do_nothing(index_elements=list(key))
                .returning(returning)
            )
            return (await s.execute(stmt)).scalar_one_or_none()
        look_up, inserted = _insert_new_statements(table, tuple(key), returning)
        if (await s.execute(look_up, {f"key_{n}": v for n, v in key.items()})).first() is not None:
            return None
        return (await s.execute(inserted, key | values)).scalar_one()


# Built once per shape: building a statement costs more than running it.


@functools.cache
def _update_statement(
    table: Table, key: tuple[str, ...], values: tuple[str, ...], returning: Column[Any] | None
) -> Any:
    updated = (
        update(table)
        .where(*(table.c[n] == bindparam(f"key_{n}") for n in key))
        .values({n: bindparam(f"new_{n}", type_=table.c[n].type) for n in values})
    )
    return updated if returning is None else updated.returning(returning)


@functools.cache
def _insert_statement(table: Table, returning: Column[Any] | None) -> Any:
    inserted = insert(table)
    return inserted if returning is None else inserted.returning(returning)


@functools.cache
def _insert_new_statements(table: Table, key: tuple[str, ...], returning: Column[Any]) -> tuple[Any, Any]:
    look_up = select(returning).where(*(table.c[n] == bindparam(f"key_{n}") for n in key))
    return look_up, _insert_statement(table, returning)
