"""In-process locks per key (bot id, symbol), shared by every unit of work of one Database."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class KeyedLocks:
    """An asyncio lock per key, dropped when nobody holds or waits for it, so the
    registry does not grow with every symbol ever traded."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    async def acquire(self, key: Hashable) -> None:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._users[key] = self._users.get(key, 0) + 1
        try:
            await lock.acquire()
        except BaseException:
            self._forget(key)
            raise

    def release(self, key: Hashable) -> None:
        self._locks[key].release()
        self._forget(key)

    def _forget(self, key: Hashable) -> None:
        self._users[key] -= 1
        if not self._users[key]:
            del self._users[key]
            del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class WriterLock:
    """SQLite's single writer, queued in order in this process; it also tells whether
    another transaction is waiting for it (see InlineConnection.commit)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.waiting = 0

    async def acquire(self) -> None:
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_exc: object) -> None:
        self.release()
