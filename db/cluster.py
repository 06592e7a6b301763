"""Several processes on one PostgreSQL database: who leads, and which process runs a bot's lane.

Through PostgreSQL's advisory locks, held by one connection per process that is not the
pool's: the leader holds (DESK, LEADER); a process running a bot's lane holds (LANES, bot
id); every live process holds (MEMBERS, its backend's pid), so counting those counts the
processes. A lock belongs to its connection: a process that dies, kill -9 included, lets go
of all of them the moment PostgreSQL sees its connection close, so there are no lease rows
to expire, no heartbeat writes and nothing to clean up. The other processes try for the
leadership every `retry_seconds`, and their sweeps take the dead process's lanes.

A process whose own connection breaks (the database restarted, the network dropped) has lost
its locks without knowing who took them over: it is told at once (`on_lost`: its lanes stop),
connects again every `retry_seconds`, and rejoins, as the leader again if nobody else took the
leadership meanwhile, else as a follower (`on_follow`: the duties it led stop).

On SQLite there is one process (bot/serve_lock.py): it leads and runs every lane, with no
lock to take (`SingleProcess`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger("signaldesk.cluster")

# The advisory lock namespaces (the first of PostgreSQL's two 32-bit keys): "SD" and a kind.
DESK = 0x5344_0001
LANES = 0x5344_0002
MEMBERS = 0x5344_0003
LEADER = 1

_IN_THIS_DATABASE = "l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
_MEMBERS = text(f"SELECT count(*) FROM pg_locks l WHERE {_IN_THIS_DATABASE} AND l.classid = {MEMBERS}")
_PROCESSES = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    f"WHERE {_IN_THIS_DATABASE} AND l.classid = {MEMBERS} ORDER BY a.application_name"
)
_LEADER_NAME = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    f"WHERE {_IN_THIS_DATABASE} AND l.classid = {DESK} AND l.objid = {LEADER}"
)


class SingleProcess:
    """SQLite's one process: the leader, running every lane."""

    identity: str

    def __init__(self, identity: str) -> None:
        self.identity = identity

    @property
    def is_leader(self) -> bool:
        return True

    @property
    def shared(self) -> bool:
        return False

    async def start(self) -> None:
        pass

    async def take_lane(self, bot_id: int) -> bool:
        return True

    async def release_lane(self, bot_id: int) -> None:
        pass

    async def view(self) -> dict[str, Any]:
        return {"process": self.identity, "leader": True, "members": 1, "led_by": self.identity}

    async def processes(self) -> list[str]:
        return [self.identity]

    async def close(self) -> None:
        pass


class PostgresCluster:
    def __init__(
        self,
        url: str,
        identity: str,
        *,
        retry_seconds: float = 2.0,
        connect_timeout: float = 2.0,
        on_lead: Callable[[], None] = lambda: None,
        on_lost: Callable[[str], None] = lambda _why: None,
        on_follow: Callable[[], None] = lambda: None,
    ) -> None:
        """`identity`: how others see this process (host:pid), its connection's
        application_name. `on_lead`: called when this process becomes the leader.
        `on_lost`: called when its connection broke (its locks are gone). `on_follow`:
        called when, connected again, it finds another process leading where it led."""
        self.identity = identity
        self._retry = retry_seconds
        self._on_lead = on_lead
        self._on_lost = on_lost
        self._on_follow = on_follow
        self._led_before = False  # led when the connection broke: another may lead now
        self._engine: AsyncEngine = create_async_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": connect_timeout, "server_settings": {"application_name": identity[:63]}},
        )
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the one connection
        self._leader = False
        # Bot id -> how many times this session holds its lock (PostgreSQL counts a
        # session's locks: each take is matched by one unlock).
        self._lanes: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def shared(self) -> bool:
        return True

    async def start(self) -> None:
        """Connect, join, and try for the leadership once (so a lone process leads from
        its start); then keep trying every `retry_seconds`."""
        await self._connect()
        await self._try_to_lead()
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="cluster")

    async def _connect(self) -> None:
        conn = await self._engine.connect()
        try:
            await conn.execute(text("SELECT pg_advisory_lock(:ns, pg_backend_pid())"), {"ns": MEMBERS})
            await conn.commit()  # advisory locks are the session's: they outlive the transaction
        except BaseException:
            await _discard(conn)
            raise
        self._conn = conn

    async def _scalar(self, statement: Any, params: dict[str, int] | None = None) -> Any:
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise ConnectionError("the cluster connection is down; connecting again")
            try:
                found = (await conn.execute(statement, params)).scalar()
                await conn.commit()
            except Exception as e:
                self._lose(conn, f"the cluster connection to the database broke: {type(e).__name__}")
                raise
            return found

    async def _try_to_lead(self) -> None:
        if self._leader:
            await self._scalar(text("SELECT 1"))  # still connected: still holding it
            return
        got = await self._scalar(text("SELECT pg_try_advisory_lock(:ns, :id)"), {"ns": DESK, "id": LEADER})
        if got:
            self._leader = self._led_before = True
            log.warning("this process (%s) leads the desk now", self.identity)
            self._on_lead()
        elif self._led_before:
            self._led_before = False
            log.warning("this process (%s) follows now: another took the lead while it was cut off", self.identity)
            self._on_follow()

    async def _keep(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._retry)
            try:
                if self._conn is None:
                    await self._connect()
                    log.warning("cluster connection back (%s); taking part again", self.identity)
                await self._try_to_lead()
            except Exception as e:  # told already, or not reachable yet: the next round tries again
                log.debug("cluster: %s", type(e).__name__)

    def _lose(self, conn: AsyncConnection, why: str) -> None:
        if self._conn is not conn:
            return  # told already
        self._conn = None
        self._leader = False
        self._lanes.clear()
        log.critical("%s: every lock this process held is gone; its lanes stop, and it connects again", why)
        discarding = asyncio.get_running_loop().create_task(_discard(conn))
        _DISCARDING.add(discarding)  # the loop keeps only a weak reference
        discarding.add_done_callback(_DISCARDING.discard)
        self._on_lost(why)

    async def take_lane(self, bot_id: int) -> bool:
        if self._conn is None:
            return False
        got = bool(await self._scalar(text("SELECT pg_try_advisory_lock(:ns, :id)"), {"ns": LANES, "id": bot_id}))
        if got:
            self._lanes[bot_id] = self._lanes.get(bot_id, 0) + 1
        return got

    async def release_lane(self, bot_id: int) -> None:
        held = self._lanes.get(bot_id, 0)
        if held == 0:
            return
        if held == 1:
            del self._lanes[bot_id]
        else:
            self._lanes[bot_id] = held - 1
        await self._scalar(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": LANES, "id": bot_id})

    async def view(self) -> dict[str, Any]:
        """What /health shows: this process, whether it leads, the live processes, the leader."""
        members = await self._scalar(_MEMBERS)
        leader = await self._scalar(_LEADER_NAME)
        return {"process": self.identity, "leader": self._leader, "members": int(members or 0), "led_by": leader}

    async def processes(self) -> list[str]:
        """The live processes of the desk (host:pid each), by name (the web desk's Overview)."""
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise ConnectionError("the cluster connection is down; connecting again")
            try:
                names = [str(r[0]) for r in await conn.execute(_PROCESSES)]
                await conn.commit()
            except Exception as e:
                self._lose(conn, f"the cluster connection to the database broke: {type(e).__name__}")
                raise
        return names

    async def close(self) -> None:
        """Let go of everything (a clean stop: the others need not wait for a sweep)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session releases its advisory locks
        await self._engine.dispose()


_DISCARDING: set[asyncio.Task[None]] = set()


async def _discard(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.invalidate()
