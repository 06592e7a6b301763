"""The storage watch (issue 25, item 2): one verdict on the database, said once when it goes
and once when it comes back, decided by its own probe and never by one failing request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

from trading.domain.events import DatabaseBack, DatabaseDown, Event
from trading.services.storage_watch import StorageWatch


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Rig:
    def __init__(self) -> None:
        self.failing_reads = False
        self.failing_writes = False
        self.probes: list[bool] = []
        self.events: list[Event] = []
        self.said: asyncio.Event | None = None  # set at each event published

    async def probe(self, write: bool) -> None:
        self.probes.append(write)
        if self.failing_reads or (write and self.failing_writes):
            raise OSError("database or disk is full\nSQL: PRAGMA user_version = 0")

    def publish(self, events: Iterable[Event]) -> None:
        self.events.extend(events)
        if self.said is not None:
            self.said.set()

    def watch(self, **kwargs: float) -> StorageWatch:
        return StorageWatch(self.probe, self.publish, Clock(), **kwargs)


async def test_down_and_back_are_each_said_once() -> None:
    rig = Rig()
    watch = rig.watch()
    assert await watch.check(write=True)
    rig.failing_writes = True
    for _ in range(5):
        assert not await watch.check(write=True)
    assert watch.is_down and watch.reason == "OSError: database or disk is full"  # the first line only
    # A read answering (a full disk still reads) is not the database being back.
    assert await watch.check(write=False)
    rig.failing_writes = False
    for _ in range(3):
        assert await watch.check(write=True)
    assert not watch.is_down
    assert [type(e) for e in rig.events] == [DatabaseDown, DatabaseBack]
    assert rig.events[0].text().startswith("database DOWN: OSError: database or disk is full")


async def test_a_suspicion_makes_the_running_watch_probe_with_a_write_at_once() -> None:
    rig = Rig()
    watch = rig.watch(up_interval=3600, down_interval=0.01)
    rig.said = said = asyncio.Event()
    watch.start()
    try:
        rig.failing_writes = True
        watch.suspect(RuntimeError("a batch failed"))
        async with asyncio.timeout(5):
            await said.wait()
        assert watch.is_down
        assert rig.probes[0] is True  # the suspicion's probe is a write
        said.clear()
        rig.failing_writes = False
        async with asyncio.timeout(5):
            await said.wait()
        assert not watch.is_down
    finally:
        await watch.stop()
    assert [type(e) for e in rig.events] == [DatabaseDown, DatabaseBack]


async def test_a_probe_that_hangs_is_a_failure() -> None:
    rig = Rig()

    async def hang(write: bool) -> None:
        await asyncio.sleep(3600)

    watch = StorageWatch(hang, rig.publish, Clock(), probe_timeout=0.05)
    assert not await watch.check(write=False)
    assert watch.is_down and [type(e) for e in rig.events] == [DatabaseDown]
