"""`signaldesk db restore` (issue 25, item 3): a backup goes back only into an empty
database (or with --force), is checked before and after, leaves no trace of the database
it replaced (its -wal), and moves signal ids past the backup's by SIGNAL_ID_GAP. The drill
against the running desk is tests/e2e/test_restore_drill.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli.db_backup import backup_sqlite
from bot.cli.db_restore import SIGNAL_ID_GAP, RestoreError, restore_sqlite, run
from db.database import Database
from tests.conftest import sqlite_url
from tests.integration.web_support import SystemClock, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.services.intake import AlertRequest, Intake
from web.errors import status_for


async def desk_with_signals(path: Path, count: int) -> None:
    db = Database(sqlite_url(path), passphrases=TEST_PASSPHRASES)
    try:
        await db.upgrade()
        await add_bot(db)
        intake = Intake(db.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
        for n in range(count):
            body = f'{{"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "r{n}"}}'.encode()
            await intake.receive(
                AlertRequest("sa40_rsi_50849a3c", body, "application/json", "1.2.3.4", SystemClock().now())
            )
    finally:
        await db.dispose()


def signal_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT id FROM signals ORDER BY id")]


async def test_restore_into_an_empty_database_moves_ids_past_the_gap(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    await desk_with_signals(live, 3)
    backup_sqlite(live, tmp_path / "backup.db")
    target = tmp_path / "restored.db"
    result = restore_sqlite(tmp_path / "backup.db", target)
    assert (result.signals, result.next_signal_id) == (3, 3 + SIGNAL_ID_GAP + 1)
    assert signal_ids(target) == [1, 2, 3, 3 + SIGNAL_ID_GAP]
    # The restored database serves (migrated as at start-up): its next signal comes after the gap.
    db = Database(sqlite_url(target), passphrases=TEST_PASSPHRASES)
    try:
        await db.upgrade()
        intake = Intake(db.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
        body = b'{"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "after"}'
        answer = await intake.receive(
            AlertRequest("sa40_rsi_50849a3c", body, "application/json", "1.2.3.4", SystemClock().now())
        )
        assert answer.signal_id == result.next_signal_id
        async with db.uow(read_only=True) as uow:
            gap = await uow.signals.get(3 + SIGNAL_ID_GAP)
        assert gap is not None and gap.state.value == "ignored" and "signaldesk db restore" in (gap.reason or "")
    finally:
        await db.dispose()
    with sqlite3.connect(target) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


async def test_a_database_that_is_not_empty_is_replaced_only_with_force(tmp_path: Path) -> None:
    old, live = tmp_path / "old.db", tmp_path / "live.db"
    await desk_with_signals(old, 2)
    backup_sqlite(old, tmp_path / "backup.db")
    await desk_with_signals(live, 5)
    # The live database's own log beside it: it must not be replayed into the restored file.
    live.with_name("live.db-wal").write_bytes(b"not a log of the restored database")
    with pytest.raises(RestoreError, match=r"is not empty \(it holds 5 signals\).*--force"):
        restore_sqlite(tmp_path / "backup.db", live)
    assert signal_ids(live) == [1, 2, 3, 4, 5]
    restore_sqlite(tmp_path / "backup.db", live, force=True)
    assert not live.with_name("live.db-wal").exists()
    assert signal_ids(live) == [1, 2, 2 + SIGNAL_ID_GAP]


async def test_only_a_signaldesk_backup_is_restored_and_refusals_change_nothing(tmp_path: Path) -> None:
    target = tmp_path / "restored.db"
    with pytest.raises(RestoreError, match="does not exist"):
        restore_sqlite(tmp_path / "missing.db", target)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, it only has the name of one" * 100)
    with pytest.raises(RestoreError, match="is not a SQLite database"):
        restore_sqlite(junk, target)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (x)")
    with pytest.raises(RestoreError, match="is not a signaldesk backup"):
        restore_sqlite(other, target)
    assert not target.exists()
    # An empty file (what some set-ups create beforehand) counts as empty.
    live = tmp_path / "live.db"
    await desk_with_signals(live, 0)
    backup_sqlite(live, tmp_path / "backup.db")
    target.touch()
    assert restore_sqlite(tmp_path / "backup.db", target).next_signal_id == 1


def test_postgresql_gets_the_pg_restore_commands_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run("postgresql+asyncpg://desk:Sup3r-s3cret@db.internal:6543/trading", str(tmp_path / "desk.dump"))
    err = capsys.readouterr().err
    assert code == 3
    assert "pg_restore --no-owner" in err and "--dbname=trading" in err and "setval(" in err
    assert "Sup3r-s3cret" not in err
