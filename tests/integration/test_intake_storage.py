"""The intake and the storage watch (issue 25, item 2): a failed batch makes the watch probe,
and while the watch says the database is down every request is answered at once (5xx by
the front door, nothing stored) instead of each waiting for its own failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from db.database import Database
from tests.integration.web_support import KEY, SystemClock, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.services.intake import ACCEPTED, REFUSED, AlertRequest, Intake, StorageDown
from web.errors import status_for


class Storage:
    def __init__(self) -> None:
        self.is_down = False
        self.reason: str | None = None
        self.suspected: list[BaseException] = []

    def suspect(self, error: BaseException) -> None:
        self.suspected.append(error)


def alert(n: int, raw: bytes | None = None) -> AlertRequest:
    now = datetime.now(UTC)
    body = (
        raw if raw is not None else json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": f"s{n}"}).encode()
    )
    return AlertRequest(KEY, body, "application/json", "203.0.113.9", now)


async def test_while_the_database_is_down_nothing_is_tried_and_nothing_stored(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    storage = Storage()
    intake = Intake(
        sqlite_database.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES, storage=storage
    )
    assert (await intake.receive(alert(1))).outcome == ACCEPTED
    storage.is_down, storage.reason = True, "OSError: database or disk is full"
    with pytest.raises(StorageDown, match="database or disk is full"):
        await intake.receive(alert(2))
    # A request refused before the database was needed keeps its refusal.
    refused = await intake.receive(alert(3, b"{not json"))
    assert refused.outcome == REFUSED and refused.log_error is not None
    storage.is_down = False
    assert (await intake.receive(alert(4))).outcome == ACCEPTED
    async with sqlite_database.uow(read_only=True) as uow:
        assert len(await uow.webhook_logs.list()) == 2  # the two accepted; nothing while down
    assert storage.suspected == []


async def test_a_failed_batch_makes_the_watch_probe(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    storage = Storage()

    def broken(**_options: object) -> object:
        raise ConnectionRefusedError("the database is not there")

    intake = Intake(broken, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES, storage=storage)  # type: ignore[arg-type]
    with pytest.raises(ConnectionRefusedError):
        await intake.receive(alert(1))
    assert [type(e) for e in storage.suspected] == [ConnectionRefusedError]
