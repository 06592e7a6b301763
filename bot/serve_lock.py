"""SQLite serves one process: `signaldesk serve` holds a lock beside the database file for
as long as it runs, and a second serve on the same file stops before touching anything.

Two processes on one SQLite file would each run every bot's lane and every periodic duty
(orders sent twice, stops closed twice); PostgreSQL is the way to run several. The lock is
the operating system's (`flock`), so it goes with the process however it ends, kill -9
included, and no stale lock file ever has to be removed by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

ONE_PROCESS = "SQLite serves one process; use PostgreSQL to run several"


class AlreadyServing(RuntimeError):
    pass


def lock_path(database_url: str) -> Path | None:
    """The lock file of a SQLite database file; None for PostgreSQL or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).with_name(Path(url.database).name + ".serve-lock")


@contextlib.contextmanager
def one_serve_per_sqlite_file(database_url: str) -> Iterator[None]:
    """Held around the whole of `serve`; raises AlreadyServing when another process holds it."""
    path = lock_path(database_url)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyServing(
                f"another signaldesk serve is running on {url_file(database_url)}. {ONE_PROCESS} "
                "(DATABASE_URL=postgresql+asyncpg://...; see docs/deployment.md)."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a person wondering who holds it
        yield
    finally:
        os.close(fd)  # closing releases the lock


def url_file(database_url: str) -> str:
    return str(make_url(database_url).database)
