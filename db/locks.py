"""In-process locks per key (bot id, symbol), shared by every unit of work of one Database."""

from __future__ import annotations

import asyncio
from collections import deque
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
    """SQLite's single writer, queued in this process; it also tells whether another
    transaction is waiting for it (see InlineConnection.commit).

    Waiters are served in order, except that an urgent one (the webhook intake, whose
    answer waits on its commit) goes ahead of the others: when both kinds wait, turns
    alternate, so an answer waits behind at most one queued transaction and a flood of
    alerts never stops executions. The lock is handed straight to the next waiter on
    release, so nobody arriving meanwhile can slip in ahead of the queue.
    """

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()
        self._last_was_urgent = False

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._others)

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held and not self.waiting:
            self._held = True
            self._last_was_urgent = urgent
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._others
        queue.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            elif turn in queue:  # a release may already have skipped it
                queue.remove(turn)
            raise

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("WriterLock released while not held")
        while self._urgent or self._others:
            take_urgent = bool(self._urgent) and not (self._last_was_urgent and self._others)
            turn = (self._urgent if take_urgent else self._others).popleft()
            if not turn.done():  # a cancelled waiter is skipped
                self._last_was_urgent = take_urgent
                turn.set_result(None)  # the lock passes to it, still held
                return
        self._held = False

    def locked(self) -> bool:
        return self._held

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_exc: object) -> None:
        self.release()
