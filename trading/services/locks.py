"""One lock per bot, shared by every use case that must not interleave with a signal's try:
the runner's lane (a signal's try), reconciliation, repair, the monitor's trail and a resting
order's cancel.

With several processes on one database a bot's signals run in the process holding its lane
(db/cluster.py), so a lock of this process alone does not keep another process's fill out:
`hold` also takes the bots' lanes, and tells which ones another process runs now."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from trading.services.ports import Cluster

log = logging.getLogger("signaldesk.locks")


class BotLocks:
    """Built once by the bootstrap and handed to each use case that takes a bot's lock.

    `cluster`: the processes sharing the database (None: this process alone). `released`:
    called with each bot whose lane `hold` took and let go (the runner's `look_again`): a
    signal another process stored meanwhile found the lane taken and was left to the holder,
    so the holder looks for one, as the runner's own lane does when it lets go."""

    def __init__(self, cluster: Cluster | None = None, released: Callable[[int], None] = lambda _bot_id: None) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._cluster = cluster
        self._released = released

    def of(self, bot_id: int) -> asyncio.Lock:
        """The bot's lock in this process (one per bot, made on first use). The runner's lane
        takes only this one: it holds the bot's lane already."""
        return self._locks.setdefault(bot_id, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def hold(self, bot_ids: Iterable[int]) -> AsyncIterator[frozenset[int]]:
        """Hold the bots' locks (in id order, as every holder takes them) and, with several
        processes, their lanes. Yields the bots whose lane another process runs now (or that
        could not be asked): nothing of theirs may be read as settled or changed meanwhile."""
        ids = sorted(set(bot_ids))
        async with contextlib.AsyncExitStack() as stack:
            for bot_id in ids:
                await stack.enter_async_context(self.of(bot_id))
            cluster = self._cluster
            if cluster is None or not cluster.shared:
                yield frozenset()
                return
            taken: list[int] = []
            try:
                elsewhere = await self._take(cluster, ids, taken)
                yield elsewhere
            finally:
                for bot_id in taken:
                    try:
                        await cluster.release_lane(bot_id)
                    except Exception:
                        # The cluster connection broke: every lock it held went with it.
                        log.warning("lane of bot %s: letting go failed; its locks went with the connection", bot_id)
                    self._released(bot_id)

    @staticmethod
    async def _take(cluster: Cluster, ids: list[int], taken: list[int]) -> frozenset[int]:
        elsewhere: set[int] = set()
        for bot_id in ids:
            try:
                got = await cluster.take_lane(bot_id)
            except Exception:
                log.warning("lane of bot %s: could not tell whether another process runs it", bot_id)
                got = False
            if got:
                taken.append(bot_id)
            else:
                elsewhere.add(bot_id)
        return frozenset(elsewhere)
