"""What the leader's Discord hears when several processes share the database: every event
any process stored, read from the events table by number, each once.

A lane may run in any process, so the ApprovalRequested of a card, or the fill of an
order, is often published on a follower's bus, where no Discord client listens. The leader
therefore takes the notifier's events from the live feed (EventFeed: the events table read
by number, its own and every other process's), from the number the feed had when this
process took the lead. One source: a numbered event reaching the leader's own bus is left to
the feed. Only an event published without a number (a process's own notice: started,
stopping, leads now, database down) goes straight from the bus, since it may never be
stored (the database is down); the feed then skips the number it gave it (`numbered_here`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from trading.domain.events import ApprovalRequested, Event, FeedEvent, event_from_feed
from trading.services.feed import EventFeed, Subscription
from trading.services.ports import Clock, Notifier
from trading.services.queries import Queries

log = logging.getLogger("signaldesk.relay")

RETRY_SECONDS = 1.0


class LeaderRelay:
    """The bus sink in front of the leader's notifier (`bus.add_sink("discord", relay)`)."""

    def __init__(
        self,
        feed: EventFeed,
        target: Notifier,
        *,
        missed: Callable[[], Awaitable[Sequence[Event]]] | None = None,
        wait_seconds: float = 1.0,
    ) -> None:
        """`missed`: events to hand on once at the start, for what the feed's start passes
        over (cards of signals stored while nobody led)."""
        self._feed = feed
        self._target = target
        self._missed = missed
        self._wait = wait_seconds
        self._sub: Subscription | None = None
        self._last: int | None = None  # the number handed on last
        self._behind = False  # subscribed again after an overflow: the table first
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self._feed.subscribe()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leader-relay")
        if self._missed is not None:
            try:
                for event in await self._missed():
                    await self._target.publish(event)
            except Exception:
                log.exception("looking for cards nobody posted failed")

    async def publish(self, event: Event) -> None:
        if event.seq is None:
            await self._target.publish(event)
        # numbered: the feed brings it, in the order of its number, with the others'

    async def _run(self) -> None:
        while True:
            try:
                sub = self._sub
                if sub is None or (sub.overflowed and sub.pending() == 0):
                    # Fallen behind (the subscription overflowed): subscribe again, then
                    # read what came between from the table.
                    self._sub = await self._feed.subscribe()
                    self._behind = True
                    continue
                if self._behind:
                    await self._catch_up()
                    self._behind = False
                one = await sub.next(self._wait)
                if one is not None:
                    await self._hand_on(one)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is down: the storage watch says so; try again
                log.warning("leader relay: %s; trying again", type(e).__name__)
                await asyncio.sleep(RETRY_SECONDS)

    async def _catch_up(self) -> None:
        after = self._last
        while after is not None:
            batch = await self._feed.after(after, 200)
            for one in batch:
                await self._hand_on(one)
            after = batch[-1].seq if batch else None

    async def _hand_on(self, one: FeedEvent) -> None:
        if self._last is not None and one.seq <= self._last:
            return  # read from the table while catching up already
        self._last = one.seq
        if self._feed.numbered_here(one.seq):
            return  # this process's own notice: handed on from the bus already
        try:
            event = event_from_feed(one)
        except Exception:
            log.exception("event #%d (%s) could not be read back; not handed on", one.seq, one.kind)
            return
        await self._target.publish(event)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sub is not None:
            self._sub.close()
            self._sub = None


async def cards_nobody_posted(queries: Queries, clock: Clock) -> list[Event]:
    """An ApprovalRequested for every card awaiting a decision that no card message was
    recorded for: stored while no process led (the leader died, the next took over), they
    are before the number the new leader's feed starts from."""
    missed: list[Event] = []
    for card in await queries.pending_cards():
        view = await queries.signal_view(card.signal_id)
        approval = view.approval if view is not None else None
        if approval is None or approval.message_id:
            continue
        now = clock.now()
        missed.append(
            ApprovalRequested(
                at=now, bot_name=card.bot_name, signal_id=card.signal_id, expires_at=card.expires_at or now
            )
        )
    return missed


async def start_relay(feed: EventFeed, target: Notifier, queries: Queries, clock: Clock) -> LeaderRelay:
    """The leader's relay to `target`, started: from the feed's number now, after the cards
    nobody posted."""
    relay = LeaderRelay(feed, target, missed=lambda: cards_nobody_posted(queries, clock))
    await relay.start()
    return relay
