"""The live feed past one process: what any process stores reaches every process's
subscribers (one read of the table per process, never one per subscriber), and every event
is handed on in the order of its number, whichever writer committed first."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import event

from db.database import Database
from trading.domain.events import Event, ExecutionFailed, FeedEvent
from trading.services.feed import EventFeed, Subscription


def failed(signal_id: int) -> ExecutionFailed:
    return ExecutionFailed(at=datetime.now(UTC), bot_name="B", signal_id=signal_id, reason="INSUFFICIENT_MARGIN")


async def store(db: Database, *events: Event) -> list[Event]:
    """Stored as a service stores them (in its own transaction): numbered, not yet told."""
    async with db.uow() as uow:
        uow.emit(events)
        await uow.commit()
    return list(uow.emitted)


@asynccontextmanager
async def started(feed: EventFeed) -> AsyncIterator[EventFeed]:
    await feed.start()
    try:
        yield feed
    finally:
        await feed.close()


async def received(sub: Subscription, count: int, wait: float = 5.0) -> list[FeedEvent]:
    got = []
    for _ in range(count):
        one = await sub.next(wait)
        assert one is not None, f"only {len(got)} of {count} events arrived"
        got.append(one)
    return got


async def test_an_event_stored_by_another_process_reaches_this_ones_subscribers_once(database: Database) -> None:
    reads: list[str] = []

    def listener(*args: object) -> None:
        reads.append(str(args[2]))

    async with (
        started(EventFeed(database.uow, poll_seconds=0.05)) as here,
        started(EventFeed(database.uow, poll_seconds=0.05)) as there,
    ):
        watchers = [await here.subscribe() for _ in range(5)]
        own = await here.subscribe()
        sub_there = await there.subscribe()
        event.listen(database.engine.sync_engine, "before_cursor_execute", listener)
        try:
            stored = await store(database, failed(7))
            await there.publish_batch(stored)  # told where it happened, after its commit

            for sub in [*watchers, own, sub_there]:
                (got,) = await received(sub, 1)
                assert (got.seq, got.signal_id) == (stored[0].seq, 7)
            await asyncio.sleep(0.3)  # several more polls: nobody is told twice
            assert [sub.pending() for sub in [*watchers, own, sub_there]] == [0] * 7
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", listener)
        polls = [r for r in reads if "FROM events" in r and "events.id >" in r]
        # One read per process per poll, however many subscribe (about 2 processes x 8 polls).
        assert 0 < len(polls) <= 2 * 0.5 / 0.05 + 6


async def test_events_are_handed_on_in_the_order_of_their_numbers(database: Database) -> None:
    async with started(EventFeed(database.uow, poll_seconds=3600)) as feed:
        sub = await feed.subscribe()
        first = await store(database, failed(1))
        second = await store(database, failed(2))

        await feed.publish_batch(second)  # the later number is told first (another writer's commit)
        await asyncio.sleep(0.05)
        assert sub.pending() == 0  # held until the number before it comes
        await feed.publish_batch(first)

        assert [e.signal_id for e in await received(sub, 2)] == [1, 2]


async def test_a_number_that_never_comes_is_passed_over_after_the_gap(database: Database) -> None:
    now = [1000.0]
    async with started(EventFeed(database.uow, poll_seconds=3600, gap_seconds=2, monotonic=lambda: now[0])) as feed:
        sub = await feed.subscribe()
        await feed.poll_once()
        (stored,) = await store(database, failed(1))
        # The number after `stored`'s was taken by a transaction that rolled back: the next
        # event has the one after that.
        skipped = dataclasses.replace(failed(3), seq=(stored.seq or 0) + 2)

        await feed.publish_batch([skipped])
        await feed.poll_once()  # reads `stored` itself
        assert [e.signal_id for e in await received(sub, 1)] == [1]
        await feed.poll_once()
        assert sub.pending() == 0  # still waiting for the missing number
        now[0] += 2.5
        await feed.poll_once()
        assert [e.signal_id for e in await received(sub, 1)] == [3]


async def test_nobody_subscribing_costs_no_reads(database: Database) -> None:
    reads: list[str] = []

    def listener(*args: object) -> None:
        reads.append(str(args[2]))

    async with started(EventFeed(database.uow, poll_seconds=0.02)) as feed:
        event.listen(database.engine.sync_engine, "before_cursor_execute", listener)
        try:
            await asyncio.sleep(0.3)
            await feed.publish_batch(await store(database, failed(1)))
            await asyncio.sleep(0.1)
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", listener)
    assert [r for r in reads if "FROM events" in r] == []
