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

Once started, the feed also hands on what other processes on the same database stored (one
read of the table every `poll_seconds` per process while anyone subscribes, never one per
subscriber), and hands every event on in the order of its number: a stream's Last-Event-ID
then means "everything up to here". Numbers are handed out at insert and become visible at
commit, so with several writers at once (PostgreSQL's concurrent transactions, other
processes) number 12 may be seen before 11; 12 is held until 11 arrives, or until 11 has been
missing for `gap_seconds` (a rolled-back transaction's number never comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from types import TracebackType

from trading.domain.events import Event, FeedEvent, feed_event
from trading.services.ports import EventUnitOfWorkFactory

log = logging.getLogger("signaldesk.feed")

_NUMBERED_HERE_MEMORY = 4096  # a process's own notices are few; a relay is never this far behind
QUEUE_SIZE = 512  # events a subscriber may be behind before it is dropped (and catches up from the table)


class Subscription:
    """One subscriber's queue. `async with await feed.subscribe() as sub:` ... `await sub.next(15)`."""

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
        self._feed.unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventFeed:
    """The bus's sink (`bus.add_sink("feed", feed)`) and the web's source of events."""

    def __init__(
        self,
        uow: EventUnitOfWorkFactory,
        *,
        queue_size: int = QUEUE_SIZE,
        poll_seconds: float = 0.5,
        gap_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._queue_size = queue_size
        self._poll_seconds = poll_seconds
        self._gap_seconds = gap_seconds
        self._monotonic = monotonic
        self._subscribers: set[Subscription] = set()
        self.stored = 0
        # Once started: the number to hand on next, the events come ahead of it, and since
        # when it has been missing. Before start() events are handed on as they come.
        self._next: int | None = None
        self._held: dict[int, FeedEvent] = {}
        self._missing_since: float | None = None
        self._poller: asyncio.Task[None] | None = None
        # The numbers this feed gave to events published without one (this process's own
        # notices): a relay that already told them straight from the bus skips them here.
        self._numbered_here: OrderedDict[int, None] = OrderedDict()

    async def start(self) -> None:
        """Follow the table from its current end: hand events on in order, and read every
        `poll_seconds` (while anyone subscribes) what other processes stored."""
        self._next = await self.last() + 1
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="feed-poll")

    async def close(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def poll_once(self) -> None:
        """Read what was stored since the last number handed on (by any process)."""
        if self._next is None or not self._subscribers:
            return
        self._take(await self.after(self._next - 1, 500))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.poll_once()
            except Exception as e:  # the database is down: the storage watch says so; try again
                log.warning("live feed: reading the events table failed: %s", type(e).__name__)

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
                    one = numbered[id(event)] = await uow.events.add(event)
                    # Known before the commit: this feed's own poll may read the row at once.
                    self._numbered_here[one.seq] = None
                while len(self._numbered_here) > _NUMBERED_HERE_MEMORY:
                    self._numbered_here.popitem(last=False)
                await uow.commit()
        stored = [numbered[id(event)] if event.seq is None else feed_event(event) for event in events]
        self.stored += len(stored)
        self._take(stored)

    def _take(self, events: Sequence[FeedEvent]) -> None:
        if self._next is None:
            self._hand_on(events)
            return
        for event in events:
            if event.seq >= self._next:
                self._held[event.seq] = event
        if not self._subscribers:  # nobody to tell: move on
            if self._held:
                self._next = max(self._held) + 1
            self._held.clear()
            self._missing_since = None
            return
        self._release()

    def _release(self) -> None:
        assert self._next is not None
        while self._held:
            ready = []
            while self._next in self._held:
                ready.append(self._held.pop(self._next))
                self._next += 1
                self._missing_since = None
            self._hand_on(ready)
            if not self._held:
                break
            now = self._monotonic()
            if self._missing_since is None:
                self._missing_since = now
            if now - self._missing_since < self._gap_seconds:
                break
            log.info("live feed: event %d never came (a rolled-back transaction); going on", self._next)
            self._next = min(self._held)
            self._missing_since = None

    def _hand_on(self, events: Sequence[FeedEvent]) -> None:
        for subscriber in list(self._subscribers):
            for one in events:
                subscriber.offer(one)

    async def subscribe(self) -> Subscription:
        """A new subscriber: it gets every event stored from now on, until it is closed."""
        subscription = Subscription(self, self._queue_size)
        first = not self._subscribers
        self._subscribers.add(subscription)
        if first and self._next is not None:
            # Nobody was told what other processes stored meanwhile, and nobody will be: the
            # feed goes on from the table's end (one read, for the first subscriber only).
            end = await self.last()
            if end + 1 > self._next:
                self._next = end + 1
                self._held = {seq: e for seq, e in self._held.items() if seq >= self._next}
        return subscription

    def numbered_here(self, seq: int) -> bool:
        """Whether this feed stored the event numbered `seq` itself, for an event published
        without a number (a process-local notice such as DeskStarted or DatabaseDown)."""
        return seq in self._numbered_here

    def unsubscribe(self, subscription: Subscription) -> None:
        """No more events for it (`Subscription.close` calls this)."""
        self._subscribers.discard(subscription)

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
