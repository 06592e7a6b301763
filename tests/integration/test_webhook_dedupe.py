"""Duplicates under concurrency on both databases: 100 identical alerts at once, one signal."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from db.database import Database
from tests.integration.web_support import KEY, SystemClock, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.services.intake import AlertRequest, Intake
from web.errors import status_for


async def test_100_concurrent_identical_alerts_make_one_signal(database: Database) -> None:
    await add_bot(database)
    now = datetime.now(UTC)
    raw = json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": now.isoformat()}).encode()
    intake = Intake(database.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    request = AlertRequest(KEY, raw, "application/json", "127.0.0.1", now)

    results = await asyncio.gather(*(intake.receive(request) for _ in range(100)))

    assert sorted(r.outcome for r in results) == ["accepted"] + ["duplicate"] * 99
    assert len({r.signal_id for r in results}) == 1
    async with database.uow() as uow:
        assert len(await uow.signals.list(limit=1000)) == 1
        assert len(await uow.webhook_logs.list(limit=1000)) == 100
