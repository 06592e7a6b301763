"""The webhook log is not an open disk (issue 15, item 4): unknown keys keep a short prefix
of their body, a retention (days and rows) trims the log in the background, and /health
shows the database's size."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import trading.services.retention as retention_module
from bot.app import build, start, stop
from bot.settings import Settings
from db.database import Database
from tests.conftest import sqlite_url
from tests.integration.web_support import KEY, SystemClock, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.records import WebhookLogEntry
from trading.services.intake import UNKNOWN_KEY_BODY_BYTES, AlertRequest, Intake
from trading.services.retention import Retention, WebhookLogTrimmer
from web.errors import status_for

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


def big_body(size: int) -> bytes:
    return json.dumps({"action": "RSI_LONG_ENTRY", "price": 1, "pad": "x" * size}).encode()


async def log_rows(db: Database) -> list[WebhookLogEntry]:
    async with db.uow(read_only=True) as uow:
        return list(reversed(await uow.webhook_logs.list(limit=10_000)))


async def test_an_unknown_key_keeps_only_a_short_prefix_of_its_body(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    intake = Intake(sqlite_database.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    sent = big_body(64 * 1024 - 100)
    for key in ("no_such_key_0123456789abcdef0", KEY):
        await intake.receive(
            AlertRequest(key, sent, "application/json", "198.51.100.7", datetime.now(UTC) - timedelta(days=400))
        )
    unknown, known = await log_rows(sqlite_database)
    assert unknown.bot_id is None
    assert len(unknown.body.encode()) < UNKNOWN_KEY_BODY_BYTES + 100
    assert unknown.body.startswith(sent[:200].decode())
    assert f"[cut: {len(sent)} bytes sent for an unknown key, the first {UNKNOWN_KEY_BODY_BYTES} kept]" in unknown.body
    assert known.body == sent.decode()  # a bot's own requests are kept whole (for replay)


async def add_rows(db: Database, ages_in_days: list[float]) -> None:
    async with db.uow() as uow:
        for n, age in enumerate(ages_in_days):
            await uow.webhook_logs.add(
                WebhookLogEntry(NOW - timedelta(days=age), "192.0.2.1", 200, "accepted", None, f"row {n}")
            )
        await uow.commit()


async def test_the_trimmer_deletes_by_age_then_by_rows_in_batches(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention_module, "BATCH", 3)  # several batches, each its own transaction
    await add_rows(database, [40, 35, 31, 29, 20, 10, 5, 4, 3, 2, 1, 0])

    by_age = await WebhookLogTrimmer(database.uow, Clock(), Retention(days=30, max_rows=0))()
    assert by_age == 3
    assert [r.body for r in await log_rows(database)] == [f"row {n}" for n in range(3, 12)]

    by_rows = await WebhookLogTrimmer(database.uow, Clock(), Retention(days=30, max_rows=4))()
    assert by_rows == 5
    assert [r.body for r in await log_rows(database)] == ["row 8", "row 9", "row 10", "row 11"]
    assert await WebhookLogTrimmer(database.uow, Clock(), Retention(days=30, max_rows=4))() == 0
    assert await WebhookLogTrimmer(database.uow, Clock(), Retention(days=0, max_rows=0))() == 0


async def test_the_database_size_has_one_shape_on_both_databases(database: Database) -> None:
    before = await database.size_bytes()
    assert isinstance(before, int) and before > 0
    await add_rows(database, [1.0] * 200)
    assert await database.size_bytes() >= before


async def test_the_process_trims_the_log_in_the_background_and_health_shows_the_size(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "desk.db")
    seeded = Database(url)
    await seeded.upgrade()
    await add_rows(seeded, [0.0] * 30)
    await seeded.dispose()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        webhook_log_max_rows=10,
        webhook_log_retention_days=0,
        reconcile_interval_seconds=3600,
        signaldesk_api_token="retention-test-token-0123456789",
    )
    app = build(settings)
    await start(app)
    try:
        rows = await log_rows(app.database)
        for _ in range(200):  # the trimmer runs once at start, in the background
            if len(rows) <= 10:
                break
            await asyncio.sleep(0.05)
            rows = await log_rows(app.database)
        assert [r.body for r in rows] == [f"row {n}" for n in range(20, 30)]
        health = await app.web.test_client().get(  # the details need a token
            "/health", headers={"Authorization": "Bearer retention-test-token-0123456789"}
        )
        detail = (await health.get_json())["components"]["database"]["detail"]
    finally:
        await stop(app)
    size = (tmp_path / "desk.db").stat().st_size
    assert detail.startswith("ok; ") and detail.endswith(" MiB)")
    assert int(detail.split()[1]) >= size
