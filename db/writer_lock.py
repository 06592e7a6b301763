"""SQLite's single writer, queued in this process, with an urgent lane.

Writers are served in arrival order, except that an urgent one (the webhook intake's batch,
whose senders wait on its commit and give up after 3 s) goes ahead of every ordinary one
queued: an alert's commit waits behind the transaction in progress at most, never behind
the executions queued after it. Ordinary writers cannot starve: the intake has one
committer, so at most one urgent writer waits at a time, and when it releases the lock
nobody urgent is queued, so the lock goes to the oldest ordinary writer.

The lock is handed straight to the next waiter on release (it stays held), so a writer
arriving meanwhile cannot slip in ahead of the queue. A waiter cancelled in the queue
leaves it; one cancelled just after the lock was handed to it passes the lock on.
"""

from __future__ import annotations

import asyncio
from collections import deque


class WriterLock:
    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._ordinary)

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held and not self.waiting:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._ordinary
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
        for queue in (self._urgent, self._ordinary):
            while queue:
                turn = queue.popleft()
                if not turn.done():  # a cancelled waiter is skipped
                    turn.set_result(None)  # the lock passes to it, still held
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_exc: object) -> None:
        self.release()
