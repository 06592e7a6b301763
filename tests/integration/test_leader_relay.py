"""The leader's Discord hears every process: events stored by any process reach the
leader's notifier from the events table, in the order of their numbers, each once, whether
the leader's own bus also carried them or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

from db.database import Database
from tests.integration.test_feed_processes import failed, started, store
from trading.domain.events import ApprovalRequested, DeskStarted, Event, ExecutionFailed, LeaderChanged
from trading.services.feed import EventFeed
from trading.services.leader_relay import LeaderRelay, cards_nobody_posted


class Heard:
    """The notifier behind the relay (the Discord sink in the real process)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._grew = asyncio.Event()

    async def publish(self, event: Event) -> None:
        self.events.append(event)
        self._grew.set()

    async def until(self, count: int, within: float = 5.0) -> list[Event]:
        async with asyncio.timeout(within):
            while len(self.events) < count:
                self._grew.clear()
                await self._grew.wait()
        return self.events


@asynccontextmanager
async def relaying(feed: EventFeed, heard: Heard, missed: list[Event] | None = None) -> AsyncIterator[LeaderRelay]:
    async def cards() -> list[Event]:
        return missed or []

    relay = LeaderRelay(feed, heard, missed=cards, wait_seconds=0.05)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


def started_notice(n: int) -> DeskStarted:
    return DeskStarted(at=datetime.now(UTC), version=f"v{n}", bots=(), brokers=(), database="db")


async def test_what_another_process_stores_reaches_the_leaders_notifier_once(database: Database) -> None:
    heard = Heard()
    async with (
        started(EventFeed(database.uow, poll_seconds=0.05)) as leader,
        started(EventFeed(database.uow, poll_seconds=0.05)) as follower,
        relaying(leader, heard),
    ):
        (theirs,) = await store(database, failed(7))
        await follower.publish_batch([theirs])  # told on the follower's bus only
        (got,) = await heard.until(1)
        assert isinstance(got, ExecutionFailed)
        assert (got.seq, got.signal_id, got.reason) == (theirs.seq, 7, "INSUFFICIENT_MARGIN")
        await asyncio.sleep(0.3)  # several polls later: told once
        assert len(heard.events) == 1


async def test_the_leaders_own_events_come_once_whether_numbered_or_not(database: Database) -> None:
    heard = Heard()
    async with started(EventFeed(database.uow, poll_seconds=0.05)) as leader, relaying(leader, heard) as relay:
        (numbered,) = await store(database, failed(1))
        notice = LeaderChanged(at=datetime.now(UTC), process="here:1", members=2)
        # The bus hands every event to each sink: the relay and the feed.
        await relay.publish(numbered)  # left to the feed
        await relay.publish(notice)  # unnumbered: straight on (it may never be stored)
        assert heard.events == [notice]
        await leader.publish_batch([numbered, notice])  # the feed stores the notice
        await heard.until(2)
        await asyncio.sleep(0.3)
        assert [type(e).__name__ for e in heard.events] == ["LeaderChanged", "ExecutionFailed"]
        assert heard.events[1].seq == numbered.seq


async def test_another_process_notice_comes_from_the_table(database: Database) -> None:
    heard = Heard()
    async with (
        started(EventFeed(database.uow, poll_seconds=0.05)) as leader,
        started(EventFeed(database.uow, poll_seconds=0.05)) as follower,
        relaying(leader, heard),
    ):
        await follower.publish_batch([started_notice(2)])  # stored by the follower's feed
        (got,) = await heard.until(1)
        assert isinstance(got, DeskStarted) and got.version == "v2"


async def test_events_stored_before_the_lead_are_not_told_but_missed_cards_are(database: Database) -> None:
    heard = Heard()
    await store(database, failed(1))  # before this process led: the old leader's business
    missed_card = failed(5)
    async with (
        started(EventFeed(database.uow, poll_seconds=0.05)) as leader,
        relaying(leader, heard, missed=[missed_card]),
    ):
        await store(database, failed(2))
        await heard.until(2)
        await asyncio.sleep(0.2)
        assert [e.signal_id for e in heard.events] == [5, 2]


async def test_a_relay_fallen_behind_catches_up_from_the_table_in_order(database: Database) -> None:
    heard = Heard()
    async with started(EventFeed(database.uow, poll_seconds=0.05, queue_size=3)) as leader:
        async with relaying(leader, heard):
            stored = []
            for n in range(10):  # more than its queue holds, before it reads any
                stored += await store(database, failed(n))
            await leader.publish_batch(stored)
            await heard.until(10)
            await asyncio.sleep(0.2)
        assert [e.signal_id for e in heard.events] == list(range(10))


async def test_cards_nobody_posted_are_those_awaiting_a_decision_with_no_card_message() -> None:
    expires = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    class Queries:  # the two reads cards_nobody_posted makes of the queries
        async def pending_cards(self) -> list[SimpleNamespace]:
            return [SimpleNamespace(signal_id=n, bot_name="B", expires_at=expires) for n in (1, 2, 3)]

        async def signal_view(self, signal_id: int) -> SimpleNamespace | None:
            message = {1: 555, 2: None}.get(signal_id)
            approval = None if signal_id == 3 else SimpleNamespace(channel_id=9, message_id=message)
            return SimpleNamespace(approval=approval)

    class Clock:
        def now(self) -> datetime:
            return expires

    (missed,) = await cards_nobody_posted(Queries(), Clock())  # type: ignore[arg-type]
    assert isinstance(missed, ApprovalRequested)
    assert (missed.signal_id, missed.bot_name, missed.expires_at) == (2, "B", expires)
