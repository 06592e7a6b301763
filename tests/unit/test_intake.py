"""The intake use case over a real SQLite database: every refusal, the dedupe rules,
concurrency, and what ends up stored (never the passphrase)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from db.database import Database
from tests.integration.web_support import KEY, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.records import WebhookLogEntry
from trading.domain.signals import SignalAction, SignalState
from trading.domain.values import Mode
from trading.services.intake import UNAUTHORIZED_MESSAGE, AlertRequest, Intake, IntakeResult
from web.errors import status_for

NOW = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple 7f3a"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def body(**fields: Any) -> bytes:
    data: dict[str, Any] = {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": iso(NOW)}
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


def request(raw: bytes, *, key: str = KEY, at: datetime = NOW, **extra: Any) -> AlertRequest:
    return AlertRequest(
        webhook_key=key,
        body=raw,
        content_type="application/json",
        client_ip="203.0.113.9",
        received_at=at,
        **extra,
    )


async def logs(db: Database) -> list[WebhookLogEntry]:
    async with db.uow(read_only=True) as uow:
        return list(reversed(await uow.webhook_logs.list(limit=1000)))


async def signal_count(db: Database) -> int:
    async with db.uow(read_only=True) as uow:
        return len(await uow.signals.list(limit=1000))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def intake(sqlite_database: Database, clock: Clock) -> Intake:
    return Intake(sqlite_database.uow, clock, status_of=status_for, passphrases=TEST_PASSPHRASES)


async def test_accepted_alert_is_stored_received_and_logged(sqlite_database: Database, intake: Intake) -> None:
    bot = await add_bot(sqlite_database)

    result = await intake.receive(request(body()))

    assert (status_for(result.code), result.outcome, result.mode, result.bot_name) == (
        200,
        "accepted",
        Mode.AUTO,
        bot.name,
    )
    assert result.signal_id is not None
    async with sqlite_database.uow() as uow:
        stored = await uow.signals.get(result.signal_id)
    assert stored is not None
    assert stored.state is SignalState.RECEIVED
    assert stored.signal.action is SignalAction.ENTER_LONG
    assert [(c.state, c.cause) for c in stored.history] == [(SignalState.RECEIVED, "webhook")]
    [row] = await logs(sqlite_database)
    assert (row.status, row.outcome, row.bot_id, row.signal_id, row.client_ip) == (
        200,
        "accepted",
        bot.id,
        result.signal_id,
        "203.0.113.9",
    )
    assert json.loads(row.body)["action"] == "RSI_LONG_ENTRY"


async def test_unknown_key_wrong_and_missing_passphrase_answer_alike(sqlite_database: Database, intake: Intake) -> None:
    bot = await add_bot(sqlite_database, passphrase=PASSPHRASE)

    unknown = await intake.receive(request(body(passphrase=PASSPHRASE), key="no_such_key_12345"))
    wrong = await intake.receive(request(body(passphrase="guess")))
    missing = await intake.receive(request(body()))

    for result in (unknown, wrong, missing):
        assert (status_for(result.code), result.outcome, result.code, result.message) == (
            401,
            "refused",
            "unauthorized",
            UNAUTHORIZED_MESSAGE,
        )
        assert result.bot_name is None  # nothing that would tell a valid key apart
    assert await signal_count(sqlite_database) == 0
    rows = await logs(sqlite_database)
    assert [(r.status, r.outcome, r.bot_id) for r in rows] == [
        (401, "refused", None),
        (401, "refused", bot.id),
        (401, "refused", bot.id),
    ]
    assert all(r.reason and "unauthorized" in r.reason for r in rows)

    right = await intake.receive(request(body(passphrase=PASSPHRASE)))
    assert right.outcome == "accepted"


@pytest.mark.parametrize(
    ("raw", "status", "code", "words"),
    [
        (b"RSI long entry on SA40 at 53210.5", 400, "not_json", "not JSON"),
        (body(action="RSI_MOON_ENTRY"), 422, "unknown_action", "RSI_MOON_ENTRY"),
        (body(price=None), 422, "missing_field", '"price"'),
        (body(price="{{close}}"), 422, "unreplaced_placeholder", "{{close}}"),
        (body(price="12,5"), 422, "bad_number", '"price"'),
    ],
)
async def test_bad_bodies_are_refused_naming_the_problem(
    sqlite_database: Database, intake: Intake, raw: bytes, status: int, code: str, words: str
) -> None:
    await add_bot(sqlite_database)

    result = await intake.receive(request(raw))

    assert (status_for(result.code), result.outcome, result.code) == (status, "refused", code)
    assert words in result.message
    assert await signal_count(sqlite_database) == 0
    [row] = await logs(sqlite_database)
    assert (row.status, row.outcome) == (status, "refused")
    assert row.reason is not None and code in row.reason


async def test_a_bad_body_gets_the_same_answer_with_an_unknown_key(sqlite_database: Database, intake: Intake) -> None:
    await add_bot(sqlite_database, passphrase=PASSPHRASE)
    raw = b"not json at all"

    known = await intake.receive(request(raw))
    unknown = await intake.receive(request(raw, key="no_such_key_12345"))

    assert (known.outcome, known.code, known.message) == (unknown.outcome, unknown.code, unknown.message)


async def test_old_alert_is_refused_with_its_age_the_limit_and_timenow(
    sqlite_database: Database, intake: Intake
) -> None:
    await add_bot(sqlite_database, max_signal_age_seconds=300)

    fresh = await intake.receive(request(body(time=iso(NOW - timedelta(seconds=299)))))
    old = await intake.receive(request(body(time=iso(NOW - timedelta(minutes=10)))))

    assert fresh.outcome == "accepted"
    assert (status_for(old.code), old.code) == (422, "alert_too_old")
    assert "10 min old" in old.message
    assert "300 s" in old.message
    assert "{{timenow}}" in old.message


async def test_alert_from_the_future_is_refused(sqlite_database: Database, intake: Intake) -> None:
    await add_bot(sqlite_database)

    result = await intake.receive(request(body(time=iso(NOW + timedelta(hours=1)))))

    assert (status_for(result.code), result.code) == (422, "alert_in_future")
    assert "ahead of our clock" in result.message


async def test_alert_without_time_is_not_judged_by_age(sqlite_database: Database, intake: Intake) -> None:
    await add_bot(sqlite_database)

    result = await intake.receive(request(body(time=None)))

    assert result.outcome == "accepted"


async def test_inactive_and_paused_bots_are_refused_409_saying_which(sqlite_database: Database, intake: Intake) -> None:
    bot = await add_bot(sqlite_database, is_active=False)
    inactive = await intake.receive(request(body()))
    assert (status_for(inactive.code), inactive.code) == (409, "bot_inactive")
    assert "SA40_RSI_Bot is inactive" in inactive.message

    await add_bot(sqlite_database, is_active=True)
    async with sqlite_database.uow() as uow:
        await uow.bots.set_paused(bot.id, True, "daily loss limit reached")
        await uow.commit()
    paused = await intake.receive(request(body()))
    assert (status_for(paused.code), paused.code) == (409, "bot_paused")
    assert "SA40_RSI_Bot is paused (daily loss limit reached)" in paused.message
    assert await signal_count(sqlite_database) == 0


async def test_ticker_must_be_the_bots(sqlite_database: Database, intake: Intake) -> None:
    await add_bot(sqlite_database, symbol="SA40", tradingview_ticker="SA40CASH")

    wrong = await intake.receive(request(body(ticker="US30")))
    assert (status_for(wrong.code), wrong.code) == (422, "wrong_ticker")
    assert '"US30"' in wrong.message
    assert "SA40CASH" in wrong.message
    assert "SA40" in wrong.message

    for n, ticker in enumerate(["SA40CASH", "sa40", "HERENYA:SA40CASH"]):
        ok = await intake.receive(request(body(ticker=ticker, price=53210 + n)))
        assert ok.outcome == "accepted", ticker


def sign(secret: str, stamp: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()


async def test_signature_is_checked_when_the_bot_has_a_signing_secret(
    sqlite_database: Database, intake: Intake
) -> None:
    secret = "s3cret-signing-key"
    await add_bot(sqlite_database, signing_secret=secret)
    raw = body()
    stamp = str(int(NOW.timestamp()))

    missing = await intake.receive(request(raw))
    wrong = await intake.receive(request(raw, signature=sign("other", stamp, raw), signature_timestamp=stamp))
    stale_stamp = str(int(NOW.timestamp()) - 301)
    stale = await intake.receive(
        request(raw, signature=sign(secret, stale_stamp, raw), signature_timestamp=stale_stamp)
    )
    tampered = await intake.receive(
        request(body(price=1), signature=sign(secret, stamp, raw), signature_timestamp=stamp)
    )

    for result in (missing, wrong, stale, tampered):
        assert (status_for(result.code), result.code) == (401, "bad_signature")
    assert "X-Signature" in missing.message
    assert "301 s" in stale.message
    assert secret not in missing.message + wrong.message + stale.message + tampered.message

    good = await intake.receive(request(raw, signature=sign(secret, stamp, raw), signature_timestamp=stamp))
    assert good.outcome == "accepted"


async def test_same_body_within_the_window_is_a_duplicate(
    sqlite_database: Database, intake: Intake, clock: Clock
) -> None:
    await add_bot(sqlite_database)
    raw = body(time=None)

    first = await intake.receive(request(raw))
    again = await intake.receive(request(raw, at=NOW + timedelta(minutes=14)))

    assert first.outcome == "accepted"
    assert (status_for(again.code), again.outcome, again.signal_id) == (200, "duplicate", first.signal_id)
    assert again.duplicate_reason == "same body within 15 minutes"
    assert again.message == (
        f"this alert repeats signal {first.signal_id} (same body within 15 minutes); nothing new was created"
    )
    assert await signal_count(sqlite_database) == 1

    clock.at = NOW + timedelta(minutes=16)
    later = await intake.receive(request(raw, at=clock.at))
    assert later.outcome == "accepted"
    assert later.signal_id != first.signal_id

    rows = await logs(sqlite_database)
    assert [(r.outcome, r.signal_id) for r in rows] == [
        ("accepted", first.signal_id),
        ("duplicate", first.signal_id),
        ("accepted", later.signal_id),
    ]


async def test_same_alert_id_is_a_duplicate_forever(sqlite_database: Database, intake: Intake, clock: Clock) -> None:
    await add_bot(sqlite_database)
    first = await intake.receive(request(body(id="SA40-2024-05-06-long")))

    clock.at = NOW + timedelta(days=3)
    again = await intake.receive(request(body(id="SA40-2024-05-06-long", time=iso(clock.at)), at=clock.at))

    assert (again.outcome, again.signal_id) == ("duplicate", first.signal_id)
    assert again.duplicate_reason == 'same id "SA40-2024-05-06-long"'
    rows = await logs(sqlite_database)
    assert rows[-1].reason == f'duplicate of signal {first.signal_id}: same id "SA40-2024-05-06-long"'
    assert await signal_count(sqlite_database) == 1


async def test_a_strategy_order_name_is_not_an_alert_id(sqlite_database: Database, intake: Intake) -> None:
    # {{strategy.order.id}} repeats ("Short") on every short entry of the strategy.
    await add_bot(sqlite_database)

    def short(price: str) -> bytes:
        return json.dumps(
            {"action": "sell", "contracts": "1", "market_position": "short", "position_size": "-1",
             "prev_market_position": "flat", "price": price, "id": "Short", "time": iso(NOW)}
        ).encode()  # fmt: skip

    first = await intake.receive(request(short("53322.5")))
    second = await intake.receive(request(short("53100.0")))

    assert (first.outcome, second.outcome) == ("accepted", "accepted")
    assert await signal_count(sqlite_database) == 2


async def test_identical_alerts_on_two_bots_are_not_duplicates(sqlite_database: Database, intake: Intake) -> None:
    await add_bot(sqlite_database)
    await add_bot(sqlite_database, bot_name="Other_Bot", webhook_key="other_key_1234")

    a = await intake.receive(request(body(id="same")))
    b = await intake.receive(request(body(id="same"), key="other_key_1234"))

    assert (a.outcome, b.outcome) == ("accepted", "accepted")


async def test_100_identical_concurrent_alerts_make_exactly_one_signal(
    sqlite_database: Database, intake: Intake
) -> None:
    await add_bot(sqlite_database)
    raw = body()

    results = await asyncio.gather(*(intake.receive(request(raw)) for _ in range(100)))

    accepted = [r for r in results if r.outcome == "accepted"]
    duplicates = [r for r in results if r.outcome == "duplicate"]
    assert len(accepted) == 1
    assert len(duplicates) == 99
    assert {r.signal_id for r in duplicates} == {accepted[0].signal_id}
    assert await signal_count(sqlite_database) == 1
    rows = await logs(sqlite_database)
    assert len(rows) == 100
    assert sorted(r.outcome for r in rows) == ["accepted"] + ["duplicate"] * 99


async def test_the_passphrase_is_never_stored(sqlite_database: Database, intake: Intake, tmp_path: Path) -> None:
    await add_bot(sqlite_database, passphrase=PASSPHRASE)

    ok = await intake.receive(request(body(passphrase=PASSPHRASE)))
    dup = await intake.receive(request(body(passphrase=PASSPHRASE)))
    bad = await intake.receive(request(body(passphrase=PASSPHRASE, price="{{close}}")))
    wrong = await intake.receive(request(body(passphrase=PASSPHRASE + "x")))
    assert [r.outcome for r in (ok, dup, bad, wrong)] == ["accepted", "duplicate", "refused", "refused"]

    rows = await logs(sqlite_database)
    assert len(rows) == 4
    assert all('"passphrase": "***"' in r.body for r in rows)
    await sqlite_database.dispose()
    # Whether the rows sit in the main file or still in the WAL, every file is searched.
    found = database_files_holding(tmp_path, PASSPHRASE.encode())
    assert found == []


async def test_refuse_logs_a_row_for_refusals_decided_before_the_intake(
    sqlite_database: Database, intake: Intake
) -> None:
    bot = await add_bot(sqlite_database)

    result = await intake.refuse(request(b""), "rate_limited", "too many requests")

    assert (status_for(result.code), result.outcome, result.code) == (429, "refused", "rate_limited")
    [row] = await logs(sqlite_database)
    assert (row.status, row.outcome, row.bot_id, row.reason) == (
        429,
        "refused",
        bot.id,
        "rate_limited: too many requests",
    )


def database_files_holding(folder: Path, needle: bytes) -> list[str]:
    files = [p for p in folder.iterdir() if p.name.startswith("signaldesk.db")]
    assert files, "no database file to search"
    return [p.name for p in files if needle in p.read_bytes()]


class _FailingLogs:
    async def add(self, entry: WebhookLogEntry) -> None:
        raise OSError("disk full")

    async def add_many(self, entries: Sequence[WebhookLogEntry]) -> None:
        raise OSError("disk full")


async def test_a_refusal_is_answered_even_when_its_log_row_cannot_be_written(
    sqlite_database: Database, clock: Clock
) -> None:
    await add_bot(sqlite_database)

    def factory(**options: Any) -> Any:
        uow = sqlite_database.uow(**options)
        uow.webhook_logs = _FailingLogs()  # type: ignore[assignment]
        return uow

    result: IntakeResult = await Intake(factory, clock, status_of=status_for, passphrases=TEST_PASSPHRASES).receive(
        request(b"not json")
    )

    assert (status_for(result.code), result.code) == (400, "not_json")
    assert result.log_error == "OSError: disk full"


async def test_an_accepted_signal_is_not_stored_when_its_log_row_fails(sqlite_database: Database, clock: Clock) -> None:
    # The log row is in the signal's transaction: both or neither.
    await add_bot(sqlite_database)
    make: Callable[..., Any] = sqlite_database.uow

    def factory(**options: Any) -> Any:
        uow = make(**options)
        uow.webhook_logs = _FailingLogs()  # type: ignore[assignment]
        return uow

    with pytest.raises(OSError, match="disk full"):
        await Intake(factory, clock, status_of=status_for, passphrases=TEST_PASSPHRASES).receive(request(body()))
    assert await signal_count(sqlite_database) == 0


# ---------------------------------------------------------------- group commit, shielded


class _CountingFactory:
    """db.uow with a count of the commits made and, when asked, log rows that fail."""

    def __init__(self, db: Database, poison: bytes | None = None) -> None:
        self.db = db
        self.poison = poison
        self.commits = 0

    def __call__(self, *, read_only: bool = False, urgent: bool = False) -> Any:
        uow = self.db.uow(read_only=read_only, urgent=urgent)
        commit, add_many = uow.commit, uow.webhook_logs.add_many

        async def counted_commit() -> None:
            await commit()
            self.commits += 1

        async def poisoned_add_many(entries: Sequence[WebhookLogEntry]) -> None:
            if self.poison is not None and any(self.poison.decode() in e.body for e in entries):
                raise OSError("the database refused this body")
            await add_many(entries)

        uow.commit = counted_commit  # type: ignore[method-assign]
        uow.webhook_logs.add_many = poisoned_add_many  # type: ignore[method-assign]
        return uow


async def test_alerts_arriving_together_are_stored_in_one_transaction(sqlite_database: Database, clock: Clock) -> None:
    bot = await add_bot(sqlite_database)
    factory = _CountingFactory(sqlite_database)
    intake = Intake(factory, clock, status_of=status_for, passphrases=TEST_PASSPHRASES)
    raws = [body(price=53000 + n) for n in range(20)] + [b"not json", body(id="a-1"), body(id="a-1", price=1)]

    results = await asyncio.gather(*(intake.receive(request(raw)) for raw in raws))

    assert factory.commits == 1
    outcomes = [r.outcome for r in results]
    assert outcomes == ["accepted"] * 20 + ["refused", "accepted", "duplicate"]
    assert results[-1].signal_id == results[-2].signal_id
    rows = await logs(sqlite_database)
    assert sorted((r.outcome, r.signal_id) for r in rows) == sorted(
        (r.outcome, r.signal_id)
        for r in results  # type: ignore[misc]
    )
    assert all(r.bot_id == bot.id for r in rows)


async def test_a_request_the_database_refuses_fails_alone(sqlite_database: Database, clock: Clock) -> None:
    await add_bot(sqlite_database)
    factory = _CountingFactory(sqlite_database, poison=b"POISON")
    intake = Intake(factory, clock, status_of=status_for, passphrases=TEST_PASSPHRASES)

    results = await asyncio.gather(
        intake.receive(request(body(price=1))),
        intake.receive(request(b"POISON, not json")),
        intake.receive(request(body(price=2, note="POISON"))),
        intake.receive(request(body(price=3))),
        return_exceptions=True,
    )

    ok1, refused, failed, ok2 = results
    assert isinstance(ok1, IntakeResult) and isinstance(ok2, IntakeResult)
    assert (ok1.outcome, ok2.outcome) == ("accepted", "accepted")
    # The refusal is answered all the same, saying its log row is missing.
    assert isinstance(refused, IntakeResult)
    assert (status_for(refused.code), refused.code) == (400, "not_json")
    assert refused.log_error == "OSError: the database refused this body"
    # An alert whose log row fails is not stored either: its signal and row, both or neither.
    assert isinstance(failed, OSError)
    assert await signal_count(sqlite_database) == 2
    assert [r.outcome for r in await logs(sqlite_database)] == ["accepted", "accepted"]


async def test_wake_is_called_with_the_bot_id_after_the_commit_of_accepted_signals_only(
    sqlite_database: Database, clock: Clock
) -> None:
    bot = await add_bot(sqlite_database)
    seen: list[tuple[int, int]] = []

    def wake(bot_id: int) -> None:
        seen.append((bot_id, committed_signals()))

    def committed_signals() -> int:
        # Read with the stock sqlite3 module: what another process would see, i.e. committed rows.
        with contextlib.closing(sqlite3.connect(sqlite_database.engine.url.database or "")) as conn:
            return int(conn.execute("SELECT count(*) FROM signals").fetchone()[0])

    intake = Intake(sqlite_database.uow, clock, wake=wake, status_of=status_for, passphrases=TEST_PASSPHRASES)
    accepted = await intake.receive(request(body()))
    duplicate = await intake.receive(request(body()))
    refused = await intake.receive(request(b"not json"))

    assert [r.outcome for r in (accepted, duplicate, refused)] == ["accepted", "duplicate", "refused"]
    assert seen == [(bot.id, 1)]


async def test_a_failing_wake_is_logged_and_the_answer_stands(
    sqlite_database: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await add_bot(sqlite_database)

    def wake(bot_id: int) -> None:
        raise RuntimeError("the runner is gone")

    result = await Intake(
        sqlite_database.uow, clock, wake=wake, status_of=status_for, passphrases=TEST_PASSPHRASES
    ).receive(request(body()))

    assert result.outcome == "accepted"
    assert await signal_count(sqlite_database) == 1
    assert "the runner is gone" in caplog.text


async def test_a_request_cancelled_after_its_body_arrived_is_still_stored_and_woken(
    sqlite_database: Database, clock: Clock
) -> None:
    """The sender hangs up (the HTTP handler is cancelled) while the alert waits for the
    database: the store goes on, the signal is committed and the runner woken."""
    bot = await add_bot(sqlite_database)
    woken: list[int] = []
    intake = Intake(sqlite_database.uow, clock, wake=woken.append, status_of=status_for, passphrases=TEST_PASSPHRASES)
    assert sqlite_database.write_lock is not None
    await sqlite_database.write_lock.acquire()  # a writer holds the database: the store must wait
    try:
        handler = asyncio.create_task(intake.receive(request(body())))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not handler.done()
        handler.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handler
        assert await signal_count(sqlite_database) == 0  # nothing stored yet: it is waiting
    finally:
        sqlite_database.write_lock.release()

    await intake.aclose()  # the store, no longer awaited by anyone, finishes

    async with sqlite_database.uow(read_only=True) as uow:
        [stored] = await uow.signals.list()
    assert stored.state is SignalState.RECEIVED
    assert woken == [bot.id]
    assert [r.outcome for r in await logs(sqlite_database)] == ["accepted"]


async def test_reads_do_not_wait_for_a_writer(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    assert sqlite_database.write_lock is not None
    async with sqlite_database.uow() as writer:
        await writer.control.get()  # the writer's transaction is open, holding the lock
        assert sqlite_database.write_lock.locked()
        async with asyncio.timeout(2), sqlite_database.uow(read_only=True) as reader:
            assert [b.name for b in await reader.bots.list()] == ["SA40_RSI_Bot"]


async def test_a_pause_applies_to_the_very_next_alert(sqlite_database: Database, intake: Intake) -> None:
    # The bot is read in each batch's transaction, not from a cache that could lag.
    bot = await add_bot(sqlite_database)
    assert (await intake.receive(request(body(price=1)))).outcome == "accepted"
    async with sqlite_database.uow() as uow:
        await uow.bots.set_paused(bot.id, True, "by hand")
        await uow.commit()

    paused = await intake.receive(request(body(price=2)))

    assert (status_for(paused.code), paused.code) == (409, "bot_paused")
