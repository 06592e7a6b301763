"""Alembic environment: runs over the connection Database.upgrade hands in, or opens an
async engine on the URL in the config (for `alembic` commands run by hand)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transactional_ddl=True,  # SQLite can roll DDL back too: a failed upgrade leaves nothing half-done
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        user_module_prefix="db.types.",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from db.database import Database

    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await database.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported; run `signaldesk db upgrade`")
    connection: Any = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database URL: set DATABASE_URL and run `signaldesk db upgrade`")
    asyncio.run(_run_async(url))


main()
