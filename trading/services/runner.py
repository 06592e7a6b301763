"""Moves stored signals through their life, fed from the database (the durable queue).

The webhook answers once a signal is committed and then wakes the runner; at start-up the
runner picks up every signal left unfinished, so a crash after the answer loses nothing.
Periodic tasks expire approvals, watch stops and targets, and reconcile with the brokers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from trading.domain.signals import SignalState
from trading.services.desk import Desk
from trading.services.ports import UnitOfWorkFactory

log = logging.getLogger("signaldesk.runner")

UNFINISHED = (SignalState.RECEIVED, SignalState.APPROVED, SignalState.QUEUED, SignalState.EXECUTING)


class Runner:
    def __init__(
        self,
        desk: Desk,
        uow_factory: UnitOfWorkFactory,
        *,
        workers: int = 8,
        expiry_interval: float = 5.0,
        monitor_interval: float = 5.0,
        reconcile_interval: float = 300.0,
        max_retry_delay: float = 60.0,
    ) -> None:
        self._desk = desk
        self._uow = uow_factory
        self._workers = workers
        self._intervals = {"expiry": expiry_interval, "monitor": monitor_interval, "reconcile": reconcile_interval}
        self._max_retry_delay = max_retry_delay
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: dict[int, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._stopping = False
        self._waking: set[asyncio.Task[None]] = set()
        self._woken_upto: dict[int, int] = {}  # bot id -> highest signal id wake_bot queued
        desk.wake = self.wake

    def wake(self, signal_id: int) -> None:
        """Never blocks: the webhook calls this right after answering."""
        if not self._stopping:
            self._queue.put_nowait(signal_id)

    def wake_bot(self, bot_id: int) -> None:
        """Never blocks: the intake calls this after committing a signal of the bot.

        A stopgap until the runner keeps its own per-bot queues: it reads the bot's
        unfinished signals and wakes, in id order, those it has not woken before (earlier
        ones were queued already, and retries come back by their own timers)."""
        if self._stopping:
            return
        task = asyncio.get_running_loop().create_task(self._wake_bot(bot_id), name=f"wake-bot-{bot_id}")
        self._waking.add(task)
        task.add_done_callback(self._waking.discard)

    async def _wake_bot(self, bot_id: int) -> None:
        try:
            async with self._uow(read_only=True) as uow:
                pending = await uow.signals.ids_in_states(UNFINISHED, bot_id=bot_id)
        except Exception:
            log.exception("bot %d: its unfinished signals could not be read; the next wake retries", bot_id)
            return
        upto = self._woken_upto.get(bot_id, 0)
        for signal_id in pending:
            if signal_id > upto:
                self.wake(signal_id)
        if pending:
            self._woken_upto[bot_id] = max(upto, pending[-1])

    async def start(self) -> int:
        async with self._uow() as uow:
            pending = await uow.signals.ids_in_states(UNFINISHED)
        for signal_id in sorted(pending):
            self.wake(signal_id)
        if pending:
            log.info("resuming %d unfinished signal(s): %s", len(pending), sorted(pending)[:20])
        loop = asyncio.get_running_loop()
        for n in range(self._workers):
            self._tasks.append(loop.create_task(self._work(), name=f"runner-{n}"))
        self._tasks.append(loop.create_task(self._every("expiry", self._desk.expire_due), name="expiry"))
        self._tasks.append(loop.create_task(self._every("monitor", self._desk.check_exits), name="monitor"))
        self._tasks.append(loop.create_task(self._every("reconcile", self._desk.reconcile, at_start=True)))
        return len(pending)

    async def _work(self) -> None:
        while True:
            signal_id = await self._queue.get()
            try:
                result = await self._desk.advance(signal_id)
            except Exception:
                # A bug or an outage: keep the signal where it is and try again later.
                log.exception("signal %s: unexpected error; will retry", signal_id)
                self._retry(signal_id, None)
            else:
                if result.finished:
                    self._retries.pop(signal_id, None)
                else:
                    self._retry(signal_id, result.retry_after)
            finally:
                self._queue.task_done()

    def _retry(self, signal_id: int, delay: float | None) -> None:
        tries = self._retries.get(signal_id, 0) + 1
        self._retries[signal_id] = tries
        wait = min((delay or 1.0) * 2 ** min(tries - 1, 6), self._max_retry_delay)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(wait, self._fire, signal_id)
        self._timers.add(handle)

    def _fire(self, signal_id: int) -> None:
        self._timers = {t for t in self._timers if not t.cancelled() and t.when() > asyncio.get_running_loop().time()}
        self.wake(signal_id)

    async def _every(self, name: str, job: Callable[[], Awaitable[object]], at_start: bool = False) -> None:
        interval = self._intervals[name]
        if not at_start:
            await asyncio.sleep(interval)
        while True:
            try:
                await job()
            except Exception:
                log.exception("%s check failed; next in %.0fs", name, interval)
            await asyncio.sleep(interval)

    async def idle(self, seconds: float = 30.0) -> None:
        """Wait until every woken signal has been handled (tests and benchmarks)."""
        async with asyncio.timeout(seconds):
            await self._queue.join()

    @property
    def retrying(self) -> int:
        return len(self._retries)

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the signal in hand (bounded by `grace`), then stop."""
        self._stopping = True
        for timer in self._timers:
            timer.cancel()
        while not self._queue.empty():  # not started yet: left stored, resumed at next start
            self._queue.get_nowait()
            self._queue.task_done()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
