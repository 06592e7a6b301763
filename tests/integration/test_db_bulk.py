"""The batch methods the webhook intake writes through: many signals, many log rows and the
duplicate lookup of a whole batch, each in a few statements whatever the batch's size."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text

from db.database import Database
from tests.integration.db_support import T0, add_bot, full_signal
from trading.domain.records import DuplicateProbe, NewSignal, StateChange, WebhookLogEntry
from trading.domain.signals import SignalState


@contextmanager
def counted_statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block (one per cursor call, so an
    executemany counts once)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def new(bot_id: int, n: int, **overrides: Any) -> NewSignal:
    fields: dict[str, Any] = {
        "bot_id": bot_id,
        "signal": full_signal(n),
        "body_hash": f"hash-{n}",
        "state": SignalState.RECEIVED,
        "cause": "webhook",
        "at": T0 + timedelta(seconds=n),
    }
    fields.update(overrides)
    return NewSignal(**fields)


async def test_add_many_stores_each_signal_whole_in_order_with_its_first_state(database: Database) -> None:
    a = await add_bot(database)
    b = await add_bot(database, "Other_Bot")
    items = [new(a.id, 1), new(b.id, 2), new(a.id, 3, state=SignalState.REJECTED, reason="too late")]

    async with database.uow() as uow:
        stored = await uow.signals.add_many(items)
        await uow.commit()

    assert [s.id for s in stored] == sorted(s.id for s in stored)
    assert len({s.id for s in stored}) == 3
    async with database.uow() as uow:
        read = [await uow.signals.get(s.id) for s in stored]
    assert read == stored
    for item, got in zip(items, read, strict=True):
        assert got is not None
        assert got.bot_id == item.bot_id
        assert got.signal == dataclasses.replace(item.signal, passphrase=None)
        assert got.created_at == item.at
        assert got.history == (StateChange(item.state, item.at, item.cause, item.reason),)
    assert [s.bot_name for s in stored] == ["SA40_RSI_Bot", "Other_Bot", "SA40_RSI_Bot"]
    assert stored[2].reason == "too late"
    async with database.engine.connect() as conn:
        raw = repr((await conn.execute(text("SELECT * FROM signals"))).all())
    assert "hunter2" not in raw


async def test_add_many_of_a_big_batch_takes_a_few_statements_not_one_per_signal(database: Database) -> None:
    bot = await add_bot(database)
    items = [new(bot.id, n) for n in range(256)]

    async with database.uow() as uow:
        await uow.bots.name_of(bot.id)  # the transaction's BEGIN and the name lookup, out of the count
        with counted_statements(database) as statements:
            stored = await uow.signals.add_many(items)
        await uow.commit()

    assert len(stored) == 256
    assert len(statements) <= 4, statements
    async with database.uow() as uow:
        assert len(await uow.signals.list(limit=1000)) == 256
        assert [s.signal.price for s in await uow.signals.list(limit=1000)][::-1] == [i.signal.price for i in items]


async def test_add_many_of_nothing_stores_nothing(database: Database) -> None:
    async with database.uow() as uow:
        assert await uow.signals.add_many([]) == []
        await uow.webhook_logs.add_many([])
        assert await uow.signals.find_duplicates([]) == []
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.signals.list() == []
        assert await uow.webhook_logs.list() == []


async def test_add_many_rolled_back_leaves_nothing(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        await uow.signals.add_many([new(bot.id, 1), new(bot.id, 2)])
        await uow.webhook_logs.add_many([log_entry(bot.id, 1)])
        await uow.rollback()
    async with database.uow() as uow:
        assert await uow.signals.list() == []
        assert await uow.webhook_logs.list() == []


def log_entry(bot_id: int | None, n: int, signal_id: int | None = None) -> WebhookLogEntry:
    return WebhookLogEntry(
        received_at=T0 + timedelta(seconds=n),
        client_ip=f"203.0.113.{n % 250}",
        status=200 if signal_id else 422,
        outcome="accepted" if signal_id else "refused",
        reason=None if signal_id else f"bad_number: entry {n}",
        body=f'{{"n": {n}, "passphrase": "***"}}',
        bot_id=bot_id,
        signal_id=signal_id,
    )


async def test_webhook_log_add_many_stores_every_entry_in_order_in_one_statement(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        [stored] = await uow.signals.add_many([new(bot.id, 1)])
        await uow.commit()
    entries = [log_entry(bot.id, 0, stored.id), log_entry(None, 1)] + [log_entry(bot.id, n) for n in range(2, 200)]

    async with database.uow() as uow:
        await uow.control.get()  # begin the transaction outside the count
        with counted_statements(database) as statements:
            await uow.webhook_logs.add_many(entries)
        await uow.commit()

    assert len(statements) == 1, statements
    async with database.uow() as uow:
        back = list(reversed(await uow.webhook_logs.list(limit=1000)))
    assert back == entries


async def test_find_duplicates_answers_each_probe_by_its_own_rule(database: Database) -> None:
    a = await add_bot(database)
    b = await add_bot(database, "Other_Bot")
    old_body = new(a.id, 1, body_hash="same-body", at=T0)
    recent_body = new(a.id, 2, body_hash="same-body", at=T0 + timedelta(minutes=20))
    with_id = new(a.id, 3, at=T0)  # alert id "alert-3"
    other_bot = new(b.id, 4, body_hash="b-body", at=T0 + timedelta(minutes=20))
    async with database.uow() as uow:
        s1, s2, s3, s4 = await uow.signals.add_many([old_body, recent_body, with_id, other_bot])
        await uow.commit()
    late = T0 + timedelta(minutes=30)

    probes = [
        # the same body since T0: both copies match, the lower id answers
        DuplicateProbe(a.id, None, "same-body", since=T0),
        # the same body within the last 15 minutes: only the recent copy
        DuplicateProbe(a.id, None, "same-body", since=late - timedelta(minutes=15)),
        # the same body, but only after both copies
        DuplicateProbe(a.id, None, "same-body", since=late),
        # the same alert id matches however old, whatever the body
        DuplicateProbe(a.id, "alert-3", "never-seen", since=late),
        # another bot's alert id and body are not this bot's
        DuplicateProbe(a.id, "alert-4", "b-body", since=T0),
        DuplicateProbe(b.id, "alert-4", "nothing", since=late),
        DuplicateProbe(b.id, None, "same-body", since=T0),
        # nothing at all
        DuplicateProbe(b.id, "alert-99", "nothing", since=T0),
    ]
    async with database.uow() as uow:
        with counted_statements(database) as statements:
            found = await uow.signals.find_duplicates(probes)

    assert found == [s1.id, s2.id, None, s3.id, None, s4.id, None, None]
    assert len(statements) <= 2, statements  # BEGIN, where the driver sends one, and the query
    # The batch answers as the one-at-a-time lookup does, probe by probe.
    async with database.uow() as uow:
        one_by_one = [
            await uow.signals.find_duplicate(p.bot_id, alert_id=p.alert_id, body_hash=p.body_hash, since=p.since)
            for p in probes
        ]
    assert found == one_by_one
