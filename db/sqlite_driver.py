"""SQLite connections for SQLAlchemy's aiosqlite dialect at one thread hand-off a statement.

Why: aiosqlite runs each driver call on the connection's thread and hands the result back to
the event loop, and SQLAlchemy's adapter makes four such calls for a statement that returns
rows (open a cursor, execute, fetch, close) and three for one that does not. Each hand-off
wakes a thread and then the loop again, and on a serve process that is CPU-bound they were
most of an executed signal's database time (67 hand-offs for its 19 statements). Here a
statement is executed, its rows fetched and its cursor closed in one call on the connection's
own thread; SQLAlchemy's adapter then reads the buffered rows without another hand-off.

`connect` is handed to `create_async_engine(async_creator=...)`, SQLAlchemy's public way to
supply the driver-level connection: the dialect, its statements and its types stay the
aiosqlite dialect's, so the repositories run the same statements as before. The connection
is opened in autocommit mode (`isolation_level=None`): the engine's "begin" event issues
BEGIN itself (SQLAlchemy's recipe for SQLite transactions, db/database.py).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

# What one statement leaves for the caller: the cursor's description, its rows (all of them,
# fetched on the connection's thread), its rowcount and its lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


class Cursor:
    """A finished statement's results. SQLAlchemy's adapter awaits these methods; the rows
    are already here, so none of them goes to the connection's thread."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []
        self._next = 0

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        self._take(await self._connection.run(_execute, sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> Cursor:
        self._take(await self._connection.run(_execute_many, sql, list(parameters)))
        return self

    def _take(self, outcome: _Outcome) -> None:
        self.description, self._rows, self.rowcount, self.lastrowid = outcome
        self._next = 0

    async def fetchall(self) -> list[Any]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        end = self._next + (size or self.arraysize)
        rows = self._rows[self._next : end]
        self._next = min(end, len(self._rows))
        return rows

    async def close(self) -> None:
        self._rows = []


class _Thread:
    """The thread a connection runs on: calls queue, run one at a time in order, and each
    result goes back to the awaiting task's loop. (A one-worker ThreadPoolExecutor does the
    same at twice the event loop's cost per call, measured: about 40 us against 15-18.)"""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[asyncio.Future[Any] | None, Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._run, name="sqlite", daemon=True).start()

    def call(self, function: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((future, function))
        return future

    def stop(self, last: Callable[[], Any]) -> None:
        """Run `last` after the calls queued before it, without an answer; then end."""
        self._calls.put((None, last))
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            future, function = item
            try:
                result = function()
            except BaseException as error:  # handed to the awaiting task, as the call's outcome
                if future is not None:
                    future.get_loop().call_soon_threadsafe(_fail, future, error)
            else:
                if future is not None:
                    future.get_loop().call_soon_threadsafe(_succeed, future, result)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the awaiting task may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class Connection:
    """One sqlite3 connection, used only on its own thread (sqlite3's same-thread rule)."""

    def __init__(self, thread: _Thread, connection: sqlite3.Connection) -> None:
        self._thread = thread
        self._sqlite = connection
        self._closed = False
        self._begin: str | None = None  # a BEGIN not yet sent: it goes with the next call

    def begin_with_next(self, statement: str) -> None:
        """Start a transaction with `statement` (BEGIN or BEGIN IMMEDIATE), run on the
        connection's thread right before the next statement, in the same hand-off: a
        transaction costs one hand-off less. A transaction that runs no statement sends
        nothing (its commit or rollback has nothing to end)."""
        self._begin = statement

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(the sqlite3 connection, *args)` on the connection's thread."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        begin, self._begin = self._begin, None
        if begin is not None:
            if call is _commit or call is _rollback:
                return None  # type: ignore[return-value]  # nothing was begun: nothing to end
            if call is not _close:
                return await self._thread.call(partial(_begun, self._sqlite, begin, call, args))
        return await self._thread.call(partial(call, self._sqlite, *args))

    @property
    def isolation_level(self) -> str | None:
        return self._sqlite.isolation_level

    async def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        return await Cursor(self).execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self.run(_create_function, args, kwargs)

    async def commit(self) -> None:
        await self.run(_commit)

    async def rollback(self) -> None:
        await self.run(_rollback)

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.run(_close)
        finally:
            self._closed = True
            self._thread.stop(lambda: None)

    def stop(self) -> None:
        """Close the connection once its queued calls are done, and let the thread go
        (SQLAlchemy's terminate of a connection it gave up on, e.g. after a cancellation)."""
        if self._closed:
            return
        self._closed = True
        self._thread.stop(partial(_close, self._sqlite))


async def connect(database: str, **kwargs: Any) -> Connection:
    """A connection to `database` (a path, or ":memory:") with its own thread; `kwargs` go to
    `sqlite3.connect` (e.g. timeout)."""
    thread = _Thread()
    try:
        connection = await thread.call(partial(sqlite3.connect, database, isolation_level=None, **kwargs))
    except BaseException:
        thread.stop(lambda: None)
        raise
    return Connection(thread, connection)


def _begun(connection: sqlite3.Connection, begin: str, call: Callable[..., T], args: tuple[Any, ...]) -> T:
    connection.execute(begin)  # raises as BEGIN would have (busy, say): the call is not made
    return call(connection, *args)


def _execute(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any] | dict[str, Any]) -> _Outcome:
    cursor = connection.execute(sql, parameters)
    try:
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _execute_many(connection: sqlite3.Connection, sql: str, parameters: list[Any]) -> _Outcome:
    cursor = connection.executemany(sql, parameters)
    try:
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _create_function(connection: sqlite3.Connection, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    connection.create_function(*args, **kwargs)


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


def _close(connection: sqlite3.Connection) -> None:
    connection.close()
