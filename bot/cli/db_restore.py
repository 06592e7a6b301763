"""`signaldesk db restore FILE`: put a backup made by `signaldesk db backup` back.

The backup is checked (`PRAGMA integrity_check`, and that it is a signaldesk database),
copied beside the target with SQLite's backup API, given its signal-id gap (below), checked
again, flushed to disk and only then renamed onto the target, so the target is never a
half-written database. The target must be empty (no file, an empty file, or a database
with no tables) unless --force: restoring over a live record by mistake would lose it.
signaldesk must not be running on the target meanwhile; `serve` migrates the restored
database at its next start, so a backup from an older version is fine.

Why the gap: a client order id is `sd-<signal id>-<leg>`, and the broker keeps every one
it was sent. Signals taken after the backup was made are lost with the database, but their
orders may be at the broker; a new signal given the same id would have its order answered
as a duplicate with that old order, and the desk would book a fill that is not its own.
So the restored database's next signal id is SIGNAL_ID_GAP above the backup's highest, by
one placeholder signal (state `ignored`, its reason saying so): SQLite hands out max(id) + 1.
Signals in flight in the backup keep their ids: their orders are looked up at the broker
(or answered with the original order) before anything is sent again.

PostgreSQL is restored with pg_restore; `postgres_advice` gives the commands, the id gap
included (`setval`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from bot.cli.db_backup import BackupError, fsync_path, parse_url, remove_with_sidecars, sqlite_path

# How far past the backup's highest signal id the restored database goes on: more signals
# than a desk takes between two backups (at one backup a day).
SIGNAL_ID_GAP = 100_000
GAP_REASON = (
    "placeholder made by `signaldesk db restore`: signal ids go on {gap} past the backup's highest ({highest}), "
    "so that no new signal reuses the id (and so the client order ids) of a signal lost since the backup"
)


class RestoreError(Exception):
    """Nothing was restored; the message says why, in words for the user."""


@dataclass(frozen=True)
class RestoreResult:
    backup: Path
    target: Path
    signals: int
    next_signal_id: int
    unfinished: int  # signals not in a final state: resumed (orders looked up first) at the next start


_FINAL_STATES = ("executed", "failed", "rejected", "expired", "canceled", "ignored", "refused")


def restore_sqlite(backup: Path, target: Path, *, force: bool = False) -> RestoreResult:
    if not backup.is_file():
        raise RestoreError(f"backup file {backup} does not exist")
    if target.exists() and os.path.samefile(backup, target):
        raise RestoreError(f"{target} is the backup itself; restore into another file")
    if not target.parent.is_dir():
        raise RestoreError(f"directory {target.parent} (of DATABASE_URL) does not exist")
    _check_backup(backup)
    held = _tables_and_signals(target)
    if held is not None and not force:
        tables, signals = held
        what = f"{signals} signals" if signals is not None else f"{tables} tables"
        raise RestoreError(
            f"{target} is not empty (it holds {what}); restore into an empty database, or pass --force to "
            "replace it (stop signaldesk serve first; the database there is lost)"
        )

    partial = target.with_name(f".{target.name}.restore-{os.getpid()}")
    remove_with_sidecars(partial)
    try:
        src = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(partial, isolation_level=None)
            try:
                os.chmod(partial, 0o600)  # it holds the trading record: for its owner only
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file until serve opens it
                result = _gap(dst, backup, target)
                problems = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
                if problems != ["ok"]:
                    raise RestoreError(f"the restored copy failed PRAGMA integrity_check: {'; '.join(problems[:5])}")
            finally:
                dst.close()
        finally:
            src.close()
        fsync_path(partial)
        # The target's own -wal and -shm belong to the database being replaced: left beside
        # the restored file, SQLite would replay that log into it.
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                target.with_name(target.name + suffix).unlink()
        os.replace(partial, target)
        fsync_path(target.parent)
    except sqlite3.Error as e:
        raise RestoreError(f"restore of {backup} failed: {e}") from None
    except OSError as e:
        raise RestoreError(f"restore of {backup} into {target} failed: {e.strerror or e}") from None
    finally:
        remove_with_sidecars(partial)
    return result


def _check_backup(backup: Path) -> None:
    try:
        db = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise RestoreError(f"{backup} cannot be opened as a SQLite database: {e}") from None
    try:
        try:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as e:
            raise RestoreError(f"{backup} is not a SQLite database ({e})") from None
        if problems != ["ok"]:
            raise RestoreError(f"{backup} failed PRAGMA integrity_check: {'; '.join(problems[:5])}")
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"alembic_version", "signals", "orders", "trading_bots"} - names
        if missing:
            raise RestoreError(
                f"{backup} is not a signaldesk backup (no {', '.join(sorted(missing))} table); "
                "make one with `signaldesk db backup FILE`"
            )
    finally:
        db.close()


def _tables_and_signals(target: Path) -> tuple[int, int | None] | None:
    """What the target holds: None when it is empty (missing, 0 bytes, or no tables)."""
    if not target.exists() or target.stat().st_size == 0:
        return None
    try:
        db = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not names:
                return None
            signals = int(db.execute("SELECT count(*) FROM signals").fetchone()[0]) if "signals" in names else None
            return len(names), signals
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        raise RestoreError(f"{target} exists and is not a SQLite database ({e}); move it away first") from None


def _gap(db: sqlite3.Connection, backup: Path, target: Path) -> RestoreResult:
    signals = int(db.execute("SELECT count(*) FROM signals").fetchone()[0])
    placeholders = ", ".join("?" * len(_FINAL_STATES))
    unfinished = int(
        db.execute(f"SELECT count(*) FROM signals WHERE state NOT IN ({placeholders})", _FINAL_STATES).fetchone()[0]
    )
    row = db.execute(
        "SELECT id, bot_id, action, price, payload, created_at, updated_at FROM signals ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        # No signal yet, so none can have been sent under an id the restored database will hand out.
        return RestoreResult(backup, target, 0, 1, 0)
    highest, bot_id, action, price, payload, created_at, updated_at = row
    gap_id = int(highest) + SIGNAL_ID_GAP
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO signals (id, bot_id, action, price, alert_id, body_hash, payload, state, reason, edits, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, NULL, ?, ?, 'ignored', ?, NULL, ?, ?)",
        (
            gap_id,
            bot_id,
            action,
            price,
            f"restore-gap-{gap_id}",  # matches no alert's body hash: never a duplicate of anything
            payload,
            GAP_REASON.format(gap=SIGNAL_ID_GAP, highest=highest),
            created_at,
            updated_at,
        ),
    )
    db.execute("COMMIT")
    return RestoreResult(backup, target, signals, gap_id + 1, unfinished)


def postgres_advice(url: URL, backup: str) -> str:
    """What to run instead for PostgreSQL: pg_restore into an empty database, then the id gap."""
    q = shlex.quote
    host, port = q(url.host or "localhost"), url.port or 5432
    user = q(url.username or "postgres")
    dbname = q(url.database or url.username or "postgres")
    gap = (
        f"SELECT setval(pg_get_serial_sequence('signals', 'id'), "
        f"(SELECT coalesce(max(id), 0) FROM signals) + {SIGNAL_ID_GAP});"
    )
    return (
        f"signaldesk db restore restores SQLite backups only; DATABASE_URL names PostgreSQL "
        f"({url.render_as_string(hide_password=True)}).\n"
        f"Restore a pg_dump backup into an empty database (stop signaldesk serve first):\n\n"
        f"    pg_restore --no-owner --exit-on-error --single-transaction --host={host} --port={port} "
        f"--username={user} --dbname={dbname} {q(backup)}\n\n"
        f"then move signal ids past any the lost time may have sent to the broker:\n\n"
        f"    psql --host={host} --port={port} --username={user} --dbname={dbname} -c {q(gap)}\n\n"
        f"and start signaldesk serve (see docs/operations.md, Restoring).\n"
    )


def run(database_url: str, backup: str, *, force: bool = False) -> int:
    """The command: prints what was done, or why not, and returns the exit status
    (0 done, 1 failed, 3 PostgreSQL: nothing done, use pg_restore as printed)."""
    try:
        url = parse_url(database_url)
        backend = url.get_backend_name()
        if backend == "postgresql":
            print(postgres_advice(url, backup), file=sys.stderr)
            return 3
        if backend != "sqlite":
            raise RestoreError(f"DATABASE_URL: unsupported database {backend!r}; use sqlite or postgresql")
        result = restore_sqlite(Path(backup), sqlite_path(url), force=force)
    except (RestoreError, BackupError) as e:
        print(f"signaldesk db restore: {e}", file=sys.stderr)
        return 1
    print(
        f"restored {result.backup} into {result.target} ({result.signals} signals, {result.unfinished} unfinished: "
        f"resumed at the next start, their orders looked up at the broker first; new signals start at id "
        f"{result.next_signal_id}; integrity_check ok)"
    )
    return 0
