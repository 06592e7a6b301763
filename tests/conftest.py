"""Root fixtures: real databases. Every `database_url` / `database` test runs twice, on a
SQLite file and on a fresh database of the PostgreSQL server tests/with_postgres.sh starts.

A migrated database is a copy of one migrated once: on SQLite a copy of a file migrated once
per process, on PostgreSQL a clone of a template migrated once per run (copying is far
cheaper than migrating: 0.4 s of CPU a time on SQLite). PostgreSQL's per-test databases are
dropped by a background thread, because DROP DATABASE waits for a checkpoint (~0.7 s each).
"""

from __future__ import annotations

import asyncio
import gc
import os
import queue
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from db.database import Database
from tests.support.passphrases import TEST_PASSPHRASES, TEST_SECRET_KEY

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


def _admin_dsn(server_url: str) -> str:
    return make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


class _Dropper:
    """Drops test databases off the test's critical path; the session waits for it at the end."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def drop(self, admin_dsn: str, name: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
            self._thread.start()
        self._queue.put((admin_dsn, name))

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get())
            done = None in batch
            # Dropped together: their checkpoints coalesce (10 at once take ~the time of 1).
            asyncio.run(self._drop_all([item for item in batch if item is not None]))

    async def _drop_all(self, items: list[tuple[str, str]]) -> None:
        connections = asyncio.Semaphore(16)  # well under the server's max_connections

        async def drop(admin_dsn: str, name: str) -> None:
            try:
                async with connections:
                    await _execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as e:  # reported at the end of the session
                self.errors.append(f"{name}: {e}")

        await asyncio.gather(*(drop(dsn, name) for dsn, name in items))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=300)
            self._thread = None


_dropper = _Dropper()
_template: dict[str, str] = {}  # server URL -> name of the migrated template database


async def _execute(admin_dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_postgres_database(server_url: str, *, template: str | None = None) -> AsyncIterator[str]:
    """A new database on the server for one test (empty, or a copy of `template`), dropped afterwards."""
    admin = _admin_dsn(server_url)
    name = f"sd_test_{uuid.uuid4().hex[:16]}"
    await _execute(admin, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield _database_url(server_url, name)
    finally:
        _dropper.drop(admin, name)


async def _migrated_template(server_url: str) -> str:
    if server_url not in _template:
        name = f"sd_template_{uuid.uuid4().hex[:12]}"
        await _execute(_admin_dsn(server_url), f'CREATE DATABASE "{name}"')
        db = Database(_database_url(server_url, name))
        try:
            await db.upgrade()
        finally:
            await db.dispose()  # a template must have no connections when it is copied
        _template[server_url] = name
    return _template[server_url]


# Files that take far longer than any other, started first: under pytest-xdist (`make pytest`,
# which keeps this order: --no-loadscope-reorder) one worker spends the whole run on them
# while the others share the rest. Within each file
# the order is kept (a file's tests may build on one another).
# The rest in the order of their whole file's time on a clean clone (`--durations`), longest
# first, so that no long file starts last and ends the run alone.
LONGEST_FIRST = (
    "tests/e2e/test_soak.py",
    "tests/e2e/test_database_faults.py",
    "tests/integration/test_exchange_exits.py",
    "tests/integration/test_runner.py",
    "tests/e2e/test_ccxt_exchange.py",
    "tests/e2e/test_web_desk.py",
    "tests/e2e/test_crash_recovery.py",
    "tests/e2e/test_trading_windows.py",
    "tests/e2e/test_web_attacks.py",
    "tests/integration/test_users_cli.py",
    "tests/integration/test_ccxt_broker.py",
)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """Collecting imports every test module and builds every item, objects that live as long
    as the run: the collector, run every few hundred allocations, finds nothing to free in
    them and costs a third of a worker's collection CPU. Off while collecting. (Not frozen
    afterwards: gc.get_referrers, which Hypothesis's register_random relies on, does not see
    frozen objects, and it warns about trio's generator.)"""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def longest_first(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=longest_first)  # stable: every other test keeps its place
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # pytest-xdist schedules by node id: of tests sharing one (schemathesis's, one per API
        # operation) it would run one and report the rest as never collected.
        shared = sorted(nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1)
        if shared:
            raise pytest.UsageError(
                f"these tests share a node id, so pytest-xdist would run one of each: {shared[:3]}; "
                "run their files in one process (-p no:xdist), as `make pytest` does"
            )


@pytest.fixture(autouse=True)
def _server_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every signaldesk the tests start (in process or not) hashes passphrases with the
    tests' key, as the fixtures' databases do; tests of the key's absence unset it."""
    monkeypatch.setenv("SIGNALDESK_SECRET_KEY", TEST_SECRET_KEY.decode())


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases() -> Iterator[None]:
    yield
    for server_url, name in _template.items():
        _dropper.drop(_admin_dsn(server_url), name)
    _dropper.close()
    for path in _sqlite_template:
        shutil.rmtree(path.parent, ignore_errors=True)
    if _dropper.errors:
        pytest.fail("could not drop test databases: " + "; ".join(_dropper.errors))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "signaldesk.db")
        return
    async with fresh_postgres_database(postgres_server_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated Database, on SQLite and on PostgreSQL; disposed after the test."""
    if request.param == "sqlite":
        async with _migrated_sqlite(tmp_path) as db:
            yield db
        return
    server = postgres_server_url()
    template = await _migrated_template(server)
    async with fresh_postgres_database(server, template=template) as url:
        db = Database(url, passphrases=TEST_PASSPHRASES)
        try:
            yield db
        finally:
            await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated Database on a SQLite file, for tests that just need a real database."""
    async with _migrated_sqlite(tmp_path) as db:
        yield db


@asynccontextmanager
async def _migrated_sqlite(folder: Path) -> AsyncIterator[Database]:
    path = folder / "signaldesk.db"
    shutil.copyfile(await _migrated_sqlite_template(), path)
    db = Database(sqlite_url(path), passphrases=TEST_PASSPHRASES)
    try:
        yield db
    finally:
        await db.dispose()


_sqlite_template: list[Path] = []  # the file migrated once in this process


async def _migrated_sqlite_template() -> Path:
    """A SQLite file migrated once per process: a test's migrated database is a copy of it
    (a millisecond, against 0.4 s of CPU for running the migrations each time)."""
    if not _sqlite_template:
        path = Path(tempfile.mkdtemp(prefix="sd-template-")) / "template.db"
        db = Database(sqlite_url(path), passphrases=TEST_PASSPHRASES)
        try:
            await db.upgrade()
        finally:
            await db.dispose()  # the last connection's close folds the WAL into the file
        if path.with_name(path.name + "-wal").exists():
            raise RuntimeError(f"{path}: its WAL outlived the last connection; a copy would miss it")
        _sqlite_template.append(path)
    return _sqlite_template[0]
