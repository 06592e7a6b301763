"""Root fixtures: real databases. Every `database_url` / `database` test runs twice, on a
SQLite file and on a fresh database of the PostgreSQL server tests/with_postgres.sh starts."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from db.database import Database

POSTGRES_MISSING = (
    "TEST_POSTGRES_URL is not set, so the PostgreSQL half of this test cannot run. "
    "Run the tests under tests/with_postgres.sh (e.g. `tests/with_postgres.sh .venv/bin/pytest ...`) "
    "or with `make test`; both start a throwaway PostgreSQL server."
)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def postgres_server_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.fail(POSTGRES_MISSING, pytrace=False)
    return url


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server for one test, dropped afterwards."""
    server = make_url(server_url)
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"sd_test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "signaldesk.db")
        return
    async with fresh_postgres_database(postgres_server_url()) as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated Database, on SQLite and on PostgreSQL."""
    db = Database(database_url)
    try:
        await db.upgrade()
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated Database on a SQLite file, for tests that just need a real database."""
    db = Database(sqlite_url(tmp_path / "signaldesk.db"))
    try:
        await db.upgrade()
        yield db
    finally:
        await db.dispose()
