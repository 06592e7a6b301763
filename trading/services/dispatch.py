"""Hands events to the sinks after the commit that produced them.

Each sink has its own queue and task: a sink that fails or hangs delays only itself.
Failures are logged and retried with backoff; trading never waits on a sink. The live feed
(numbered, persisted, fanned out to the web's Server-Sent Events) is one of the sinks:
trading.services.feed.EventFeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from trading.domain.events import Event
from trading.services.ports import BatchNotifier, Notifier

log = logging.getLogger("signaldesk.events")

MAX_BATCH = 200  # events a batch-taking sink gets at once


class _SinkWorker:
    def __init__(self, name: str, sink: Notifier, *, timeout: float, attempts: int, backoff: float) -> None:
        self.name = name
        self.sink = sink
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    async def run(self) -> None:
        batches = isinstance(self.sink, BatchNotifier)
        while True:
            batch = [await self.queue.get()]
            while batches and len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                if batches:
                    await self._deliver_batch(batch)
                else:
                    await self._deliver(batch[0])
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _deliver_batch(self, batch: list[Event]) -> None:
        """A sink that takes events in batches (the feed: one transaction for what queued up)."""
        sink = self.sink
        assert isinstance(sink, BatchNotifier)
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.wait_for(sink.publish_batch(batch), self.timeout)
                self.delivered += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a sink must never break trading
                log.warning(
                    "sink %s failed on %d event(s) (try %d/%d): %r", self.name, len(batch), attempt, self.attempts, e
                )
                if attempt < self.attempts:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        self.failed += len(batch)
        log.error("sink %s gave up on %d event(s) after %d tries", self.name, len(batch), self.attempts)

    async def _deliver(self, event: Event) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.wait_for(self.sink.publish(event), self.timeout)
                self.delivered += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a sink must never break trading
                log.warning("sink %s failed on %s (try %d/%d): %r", self.name, event.kind, attempt, self.attempts, e)
                if attempt < self.attempts:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        self.failed += 1
        log.error("sink %s gave up on %s after %d tries", self.name, event.kind, self.attempts)


class EventBus:
    def __init__(self, *, timeout: float = 10.0, attempts: int = 5, backoff: float = 0.5) -> None:
        self._workers: dict[str, _SinkWorker] = {}
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff

    def add_sink(self, name: str, sink: Notifier) -> None:
        worker = _SinkWorker(name, sink, timeout=self._timeout, attempts=self._attempts, backoff=self._backoff)
        self._workers[name] = worker
        with contextlib.suppress(RuntimeError):  # no running loop yet: started by start()
            worker.task = asyncio.get_running_loop().create_task(worker.run(), name=f"sink:{name}")

    def remove_sink(self, name: str) -> None:
        """Stop handing events to the sink (a Discord client closing when another process
        leads); what it had queued is dropped with it."""
        worker = self._workers.pop(name, None)
        if worker is not None and worker.task is not None:
            worker.task.cancel()

    def start(self) -> None:
        for name, worker in self._workers.items():
            if worker.task is None:
                worker.task = asyncio.get_running_loop().create_task(worker.run(), name=f"sink:{name}")

    def publish(self, events: Iterable[Event]) -> None:
        """Never blocks, never raises."""
        for event in events:
            log.info("%s", event.text())
            for worker in self._workers.values():
                worker.queue.put_nowait(event)

    async def drain(self, seconds: float = 5.0) -> None:
        """Wait (bounded) for queued events to be delivered, e.g. before shutdown."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.gather(*(w.queue.join() for w in self._workers.values()))

    async def close(self) -> None:
        for worker in self._workers.values():
            if worker.task:
                worker.task.cancel()
        for worker in self._workers.values():
            if worker.task:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.task
