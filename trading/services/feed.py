"""The live feed: every event numbered and stored (the `events` table), then handed to
every subscriber (the web's Server-Sent Events streams).

It is a sink of the EventBus. Events are stored in the transaction of the change they tell
of (the unit of work's `emit`: the transactional outbox), so an event is never lost once its
change committed and never told for a change that rolled back; they reach the bus numbered,
after the commit, and the feed only hands them on. An event published without a transaction
(the desk starting or stopping) is stored here, in one transaction for what queued up.
Subscribers get each event from memory: N connected browsers cost no database reads. A
subscriber that falls behind (its queue full) is marked `overflowed` and dropped; its stream
ends, and the browser reconnects with Last-Event-ID and reads what it missed from the table,
once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType

from trading.domain.events import Event, FeedEvent, feed_event
from trading.services.ports import EventUnitOfWorkFactory

log = logging.getLogger("signaldesk.feed")

QUEUE_SIZE = 512  # events a subscriber may be behind before it is dropped (and catches up from the table)


class Subscription:
    """One subscriber's queue. `async with feed.subscribe() as sub:` ... `await sub.next(15)`."""

    def __init__(self, feed: EventFeed, size: int) -> None:
        self._feed = feed
        self._queue: asyncio.Queue[FeedEvent] = asyncio.Queue(maxsize=size)
        self.overflowed = False

    def offer(self, event: FeedEvent) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    async def next(self, wait: float) -> FeedEvent | None:
        """The next event, or None when none came within `wait` seconds (send a keep-alive)."""
        try:
            async with asyncio.timeout(wait):
                return await self._queue.get()
        except TimeoutError:
            return None

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._feed._subscribers.discard(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventFeed:
    """The bus's sink (`bus.add_sink("feed", feed)`) and the web's source of events."""

    def __init__(self, uow: EventUnitOfWorkFactory, *, queue_size: int = QUEUE_SIZE) -> None:
        self._uow = uow
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self.stored = 0

    async def publish(self, event: Event) -> None:
        await self.publish_batch([event])

    async def publish_batch(self, events: Sequence[Event]) -> None:
        """Hand each event to every subscriber, in order; those not stored yet (no `seq`)
        are stored first, in one transaction."""
        unstored = [event for event in events if event.seq is None]
        numbered: dict[int, FeedEvent] = {}
        if unstored:
            async with self._uow() as uow:
                for event in unstored:
                    numbered[id(event)] = await uow.events.add(event)
                await uow.commit()
        stored = [numbered[id(event)] if event.seq is None else feed_event(event) for event in events]
        self.stored += len(stored)
        for subscriber in list(self._subscribers):
            for one in stored:
                subscriber.offer(one)

    def subscribe(self) -> Subscription:
        """A new subscriber: it gets every event stored from now on, until it is closed."""
        subscription = Subscription(self, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def after(self, after: int, limit: int = 200) -> list[FeedEvent]:
        """Stored events numbered above `after`, oldest first (GET /api/events, and a
        reconnecting stream's catch-up)."""
        async with self._uow(read_only=True) as uow:
            return await uow.events.after(after, limit)

    async def last(self) -> int:
        async with self._uow(read_only=True) as uow:
            return await uow.events.last()
