"""Whether the database is up, said once when it goes and once when it comes back.

A database restart or a full disk makes writes fail for a while. The intake answers those
alerts 503 on its own; what this watch adds is one verdict for everyone: /health reports
it, the error channel is told once per outage (DatabaseDown, then DatabaseBack), and the
intake answers at once, without trying, while the database is known to be down.

The verdict comes from the watch's own probe, never from one failing request: a write the
database refuses (a body it cannot hold) says nothing about the database. A failure the
intake reports only makes the watch probe now. While up, the probe is a read every
`up_interval` seconds (it notices a server that went away with no traffic); a suspicion
and every probe while down is a write that commits, since a full disk still answers reads.
Once down, only a successful probe brings it back, so one lucky write into room left in
SQLite's write-ahead log does not flap the verdict.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from trading.domain.events import DatabaseBack, DatabaseDown, Event
from trading.services.ports import Clock

log = logging.getLogger("signaldesk.storage")

# probe(write): raises when the database does not answer (or, with write=True, does not
# take a small committed write).
Probe = Callable[[bool], Awaitable[None]]


def describe(error: BaseException) -> str:
    """The error's kind and its first line: database errors go on to quote SQL and parameters."""
    text = str(error).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


class StorageWatch:
    def __init__(
        self,
        probe: Probe,
        publish: Callable[[Iterable[Event]], None],
        clock: Clock,
        *,
        up_interval: float = 5.0,
        down_interval: float = 1.0,
        probe_timeout: float = 3.0,
    ) -> None:
        self._probe = probe
        self._publish = publish
        self._clock = clock
        self._up_interval = up_interval
        self._down_interval = down_interval
        self._probe_timeout = probe_timeout
        self._suspect = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.down_since: float | None = None  # monotonic time of the outage's start
        self.reason: str | None = None

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def suspect(self, error: BaseException) -> None:
        """A write failed: probe now (cheap to call on every failure; never raises)."""
        if not self.is_down:
            log.warning("a database write failed (%s); probing the database", describe(error))
        self._suspect.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="storage-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def check(self, *, write: bool) -> bool:
        """Probe once and update the verdict; True when the database answered."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._probe_timeout):
                await self._probe(write)
        except Exception as e:  # the probe's failure is the verdict
            if not self.is_down:
                self.down_since, self.reason = loop.time(), describe(e)
                log.error("database down: %s", self.reason)
                self._publish([DatabaseDown(at=self._clock.now(), reason=self.reason)])
            return False
        if self.down_since is not None:
            down_for = loop.time() - self.down_since
            self.down_since, self.reason = None, None
            log.warning("database back after %.1f s", down_for)
            self._publish([DatabaseBack(at=self._clock.now(), down_seconds=down_for)])
        return True

    async def _run(self) -> None:
        while True:
            interval = self._down_interval if self.is_down else self._up_interval
            suspected = False
            try:
                async with asyncio.timeout(interval):
                    await self._suspect.wait()
                suspected = True
            except TimeoutError:
                pass
            self._suspect.clear()
            try:
                await self.check(write=suspected or self.is_down)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the watch die: it is what says the database is back
                log.exception("the database watch's probe failed unexpectedly")
