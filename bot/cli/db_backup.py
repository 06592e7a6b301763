"""`signaldesk db backup FILE`: a consistent copy of a live SQLite database.

SQLite's online backup API copies the database in one step inside a read transaction: in
WAL mode (which signaldesk always uses) the server's writers carry on while the copy is
made, and the copy holds exactly the transactions committed before that step began. The
copy is written beside FILE, checked with `PRAGMA integrity_check`, made a single
self-contained file (rollback journal, no -wal/-shm beside it), flushed to disk, and only
then renamed to FILE, so FILE is never a half-written database.

PostgreSQL is not copied here: `pg_dump` does that job properly, and `postgres_advice`
says how, without ever printing the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

BUSY_TIMEOUT_SECONDS = 30.0


class BackupError(Exception):
    """The backup was not made; the message says why, in words for the user."""


@dataclass(frozen=True)
class BackupResult:
    source: Path
    target: Path
    size_bytes: int
    signals: int | None  # None when the source has no signals table (not a migrated signaldesk database)


def parse_url(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except ArgumentError:
        raise BackupError("DATABASE_URL is not a database URL") from None


def sqlite_path(url: URL) -> Path:
    """The file of a sqlite URL; an in-memory database cannot be backed up."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise BackupError("DATABASE_URL names an in-memory SQLite database: there is no file to back up")
    return Path(database)


def postgres_advice(url: URL, target: str) -> str:
    """What to run instead for PostgreSQL: the exact pg_dump command, never the password."""
    q = shlex.quote
    host, port = q(url.host or "localhost"), url.port or 5432
    user = q(url.username or "postgres")
    dbname = q(url.database or url.username or "postgres")
    target = q(target)
    command = f"pg_dump --format=custom --host={host} --port={port} --username={user} --dbname={dbname} --file={target}"
    return (
        f"signaldesk db backup copies SQLite databases only; DATABASE_URL names PostgreSQL "
        f"({url.render_as_string(hide_password=True)}).\n"
        f"Back it up with pg_dump (from the postgresql-client package, same major version as the server or newer):\n\n"
        f"    {command}\n\n"
        f"pg_dump takes a consistent snapshot while signaldesk keeps writing. It asks for the password,\n"
        f"or reads it from PGPASSWORD or ~/.pgpass. Restore into an empty database with:\n\n"
        f"    pg_restore --no-owner --host={host} --port={port} --username={user} --dbname={dbname} {target}\n"
    )


def backup_sqlite(source: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the SQLite database `source` to `target` while other connections may write to it.

    Blocking (seconds for a large file): a caller on an event loop uses `backup_sqlite_async`.
    """
    if not source.is_file():
        raise BackupError(f"database file {source} does not exist (check DATABASE_URL and the working directory)")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists; choose a new file name or pass --overwrite")
    if not target.parent.is_dir():
        raise BackupError(f"directory {target.parent} does not exist")
    if target.exists() and os.path.samefile(source, target):
        raise BackupError(f"{target} is the database itself; choose another file")

    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    remove_with_sidecars(partial)
    try:
        signals = _copy(source, partial)
        fsync_path(partial)
        os.replace(partial, target)
        fsync_path(target.parent)
    except sqlite3.Error as e:
        raise BackupError(f"backup of {source} failed: {e}") from None
    except OSError as e:
        raise BackupError(f"backup of {source} to {target} failed: {e.strerror or e}") from None
    finally:
        remove_with_sidecars(partial)
    return BackupResult(source=source, target=target, size_bytes=target.stat().st_size, signals=signals)


async def backup_sqlite_async(source: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """`backup_sqlite` in a worker thread: the event loop (and the server on it) keeps running."""
    return await asyncio.to_thread(backup_sqlite, source, target, overwrite=overwrite)


def _copy(source: Path, partial: Path) -> int | None:
    # mode=rw: never create an empty database where the real one was expected.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        dst = sqlite3.connect(partial)
        try:
            os.chmod(partial, 0o600)  # the copy holds what the database holds: for its owner only
            src.backup(dst)  # pages=-1: the whole database in one step, one consistent snapshot
            # The copy inherits WAL mode; a backup is better as one self-contained file.
            dst.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
            if problems != ["ok"]:
                raise BackupError(f"the copy failed PRAGMA integrity_check: {'; '.join(problems[:5])}")
            has_signals = dst.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'signals'"
            ).fetchone()
            return int(dst.execute("SELECT count(*) FROM signals").fetchone()[0]) if has_signals else None
        finally:
            dst.close()
    finally:
        src.close()


def remove_with_sidecars(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (the rename), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(database_url: str, target: str, *, overwrite: bool = False) -> int:
    """The command: prints what was done, or why not, and returns the exit status
    (0 done, 1 failed, 3 PostgreSQL: nothing done, use pg_dump as printed)."""
    try:
        url = parse_url(database_url)
        backend = url.get_backend_name()
        if backend == "postgresql":
            print(postgres_advice(url, target), file=sys.stderr)
            return 3
        if backend != "sqlite":
            raise BackupError(f"DATABASE_URL: unsupported database {backend!r}; use sqlite or postgresql")
        result = backup_sqlite(sqlite_path(url), Path(target), overwrite=overwrite)
    except BackupError as e:
        print(f"signaldesk db backup: {e}", file=sys.stderr)
        return 1
    held = "" if result.signals is None else f", {result.signals} signals"
    print(f"backed up {result.source} to {result.target} ({result.size_bytes} bytes{held}; integrity_check ok)")
    return 0
