"""SQLite on the event loop's own thread, behind SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call on a worker thread and hands the answer back through the
loop: measured here, about 100 µs per hand-off and 4-6 hand-offs per statement, against
5 µs for the statement itself. An executed signal makes a few dozen statements, so the
hand-offs cost more than everything else on its way to the broker together.

`InlineConnection` is aiosqlite's connection with the worker thread taken out: each call
runs at once, on the calling (loop) thread, and its coroutine finishes without
suspending. The dialect still sees aiosqlite's API, so SQLAlchemy and everything above
it are unchanged. What this costs: the loop does not run while SQLite does. Its
statements take microseconds, far less than a hand-off; where SQLite waits, it does not
hold the loop: a commit's fsync runs on a thread when no other writer is queued (see
`InlineConnection.commit`), and `begin_immediate` waits for another process's writer
(say `signaldesk bots import` beside `serve`) with asyncio sleeps instead of SQLite's
busy handler.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.util.concurrency import await_only, in_greenlet

# How long a transaction waits for another process's writer before giving up.
BUSY_TIMEOUT_MS = 5000
# One writer at a time (the database's write lock), so one thread for the commits.
_COMMITS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread (SQLAlchemy's dialect puts
    work on it directly to set the isolation level): runs each item at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as e:
            if future is None:
                raise
            future.set_exception(e)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    def __init__(
        self, connector: Callable[[], sqlite3.Connection], commit_aside: Callable[[], bool] | None = None
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]
        self._commit_aside = commit_aside
        self.commit_here = False  # set for one commit by a unit of work that asks for it

    async def commit(self) -> None:
        """A commit waits on the disk (fsync, and now and then a WAL checkpoint). When no
        other transaction waits for the write lock, it runs on a thread and the loop goes
        on serving meanwhile; when one does, it runs here, at once, because the hand-off
        back through the loop would keep the lock held longer, and every writer queued
        behind it would pay for that. A unit of work whose caller waits for nothing but
        the commit (the webhook intake) asks for it here too (`commit_here`)."""
        here, self.commit_here = self.commit_here, False
        if not here and self._commit_aside is not None and self._commit_aside():
            await asyncio.get_running_loop().run_in_executor(_COMMITS, self._conn.commit)
        else:
            self._conn.commit()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def __await__(self) -> Any:
        return self._connect().__await__()  # no worker thread to start

    def stop(self) -> None:  # type: ignore[override]
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def connector(url: str, commit_aside: Callable[[], bool] | None = None) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: each pool connection inline, opened
    with what the URL asks for (the path, and options such as ?timeout=). `commit_aside`
    says, at each commit, whether to run it on a thread (see InlineConnection.commit)."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    # The pool may close a connection from the garbage collector, on any thread.
    kwargs["check_same_thread"] = False

    async def create() -> InlineConnection:
        return await InlineConnection(lambda: sqlite3.connect(*args, **kwargs), commit_aside)

    return create


def begin_immediate(raw: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another process's writer without blocking the loop.

    Runs inside SQLAlchemy's greenlet (every database call of ours does), where
    `await_only` may await; outside one (a plain sync engine) it sleeps instead."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if getattr(e, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() + delay > deadline:
                    raise
            _sleep(delay)
            delay = min(delay * 2, 0.05)
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _sleep(seconds: float) -> None:
    if in_greenlet():
        await_only(asyncio.sleep(seconds))
    else:  # no loop to yield to
        time.sleep(seconds)
