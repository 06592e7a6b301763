"""Several processes on one PostgreSQL database (db/cluster.py): one leader, taken over when
it dies; each bot's lane in one process at a time; a process whose connection breaks is told
at once. Each PostgresCluster here stands for one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from sqlalchemy import text

from db.cluster import PostgresCluster, SingleProcess
from db.database import Database
from tests.conftest import _migrated_template, fresh_postgres_database, postgres_server_url
from tests.integration.test_runner import settle
from tests.support.fake_broker import FakeBroker
from tests.support.passphrases import TEST_PASSPHRASES
from tests.support.service_rig import ALICE, BOT_NAME, make_rig
from trading.domain.market import BrokerPosition
from trading.domain.signals import SignalAction, SignalState
from trading.services.runner import RunnerOptions

QUIET = RunnerOptions(sweep_interval=3600, monitor_interval=3600, reconcile_interval=3600)


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    server = postgres_server_url()
    async with fresh_postgres_database(server, template=await _migrated_template(server)) as url:
        db = Database(url, passphrases=TEST_PASSPHRASES)
        try:
            yield db
        finally:
            await db.dispose()


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


async def test_one_process_leads_and_another_takes_over_when_it_goes(pg: Database) -> None:
    led: list[str] = []
    first = PostgresCluster(pg.url, "host-a:1", retry_seconds=0.1, on_lead=lambda: led.append("a"))
    second = PostgresCluster(pg.url, "host-b:2", retry_seconds=0.1, on_lead=lambda: led.append("b"))
    await first.start()
    await second.start()
    try:
        await asyncio.sleep(0.3)  # several tries by the second
        assert (first.is_leader, second.is_leader, led) == (True, False, ["a"])
        view = await second.view()
        assert view == {"process": "host-b:2", "leader": False, "members": 2, "led_by": "host-a:1"}

        await first.close()  # as when its process dies: its connection closes
        await until(lambda: second.is_leader)
        assert led == ["a", "b"]
        assert await second.view() == {"process": "host-b:2", "leader": True, "members": 1, "led_by": "host-b:2"}
    finally:
        await first.close()
        await second.close()


async def test_a_bots_lane_runs_in_one_process_at_a_time(pg: Database) -> None:
    a = PostgresCluster(pg.url, "a:1")
    b = PostgresCluster(pg.url, "b:2")
    await a.start()
    await b.start()
    try:
        assert await a.take_lane(7)
        assert not await b.take_lane(7)
        assert await b.take_lane(8)  # another bot's lane is free
        assert await a.take_lane(7)  # the same process again (a second lane task, briefly)
        await a.release_lane(7)
        assert not await b.take_lane(7)  # still held once
        await a.release_lane(7)
        assert await b.take_lane(7)
        await a.release_lane(7)  # not held: nothing to let go
        assert not await a.take_lane(7)
    finally:
        await a.close()
        await b.close()


async def cut_off(pg: Database, name: str) -> None:
    """As when the network drops or the database restarts: the process's connection ends."""
    async with pg.engine.connect() as admin:
        await admin.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": name},
        )
        await admin.commit()


async def test_a_process_cut_off_is_told_at_once_holds_nothing_and_rejoins(pg: Database) -> None:
    lost: list[str] = []
    led: list[str] = []
    victim = PostgresCluster(
        pg.url, "victim:1", retry_seconds=0.1, on_lost=lost.append, on_lead=lambda: led.append("x")
    )
    await victim.start()
    try:
        assert victim.is_leader and await victim.take_lane(3)
        await cut_off(pg, "victim:1")
        with contextlib.suppress(Exception):
            await victim.take_lane(4)  # the first statement after the cut finds it
        await until(lambda: bool(lost))
        assert "cluster connection" in lost[0]
        # Connected again, alone: it leads again; the lane it held is to be taken afresh.
        await until(lambda: victim.is_leader)
        assert led == ["x", "x"]
        assert await victim.take_lane(3)
    finally:
        await victim.close()


async def test_a_leader_cut_off_while_another_took_over_comes_back_as_a_follower(pg: Database) -> None:
    followed: list[bool] = []
    first = PostgresCluster(pg.url, "first:1", retry_seconds=0.5, on_follow=lambda: followed.append(True))
    second = PostgresCluster(pg.url, "second:2", retry_seconds=0.05)
    await first.start()
    await second.start()
    try:
        assert first.is_leader
        await cut_off(pg, "first:1")
        await until(lambda: second.is_leader)  # the leadership was free while the first was cut off
        await until(lambda: bool(followed))
        assert not first.is_leader and (await first.view())["led_by"] == "second:2"
    finally:
        await first.close()
        await second.close()


async def test_a_lone_sqlite_process_leads_and_runs_every_lane() -> None:
    one = SingleProcess("h:1")
    assert one.is_leader and not one.shared and await one.take_lane(1)
    assert await one.view() == {"process": "h:1", "leader": True, "members": 1, "led_by": "h:1"}


async def test_two_processes_run_every_signal_once_each_bot_in_order(pg: Database) -> None:
    broker = FakeBroker()  # one broker both processes send to
    clusters = [PostgresCluster(pg.url, f"p:{n}") for n in range(2)]
    rigs = [
        make_rig(
            pg,
            broker,
            runner=RunnerOptions(sweep_interval=0.2, monitor_interval=3600, reconcile_interval=3600, cluster=c),
        )
        for c in clusters
    ]
    runners = [rig.runner for rig in rigs]
    for c in clusters:
        await c.start()
    try:
        bots = [await rigs[0].bot(bot_name=f"B{n}", symbol=f"S{n}", webhook_key=f"key{n}_9f8e7d6c") for n in range(4)]
        for runner in runners:
            await runner.start()
        ids: dict[int, list[int]] = {bot: [] for bot in bots}
        for n in range(6):
            for i, bot in enumerate(bots):
                action = SignalAction.ENTER_LONG if n % 2 == 0 else SignalAction.CLOSE_LONG
                sid = await rigs[0].signal(bot, action)
                ids[bot].append(sid)
                runners[(n + i) % 2].wake_bot(bot)  # stored by either process, as the webhooks spread
        every = [sid for sids in ids.values() for sid in sids]
        assert set(await settle(rigs[0], every, within=30)) == {SignalState.EXECUTED}
        placed = list(broker.book)
        assert sorted(placed) == sorted(f"sd-{s}-1" for s in every)  # each sent once
        for sids in ids.values():
            mine = [o for o in placed if int(o.split("-")[1]) in sids]
            assert mine == [f"sd-{s}-1" for s in sids]  # in arrival order
    finally:
        for runner in runners:
            await runner.stop(1)
        for c in clusters:
            await c.close()


async def test_the_leader_reads_no_mismatch_while_another_process_runs_the_bot(pg: Database) -> None:
    """The leader reconciles; the other process holds the bot's lane, its order filled at the
    broker and the fill not stored yet. Nothing is flagged (entries would be refused), nor
    repaired, until the lane is let go: then a difference is a real one."""
    broker = FakeBroker()
    leader, other = PostgresCluster(pg.url, "lead:1"), PostgresCluster(pg.url, "other:2")
    await leader.start()
    await other.start()
    try:
        rig = make_rig(pg, broker, runner=replace(QUIET, cluster=leader))
        bot = await rig.bot()
        assert await other.take_lane(bot)
        broker.net["SA40"] = 1  # the other process's entry filled at the broker
        assert await rig.use_cases.reconciliation.reconcile() == []
        repaired = await rig.use_cases.repairs.repair(BOT_NAME, "adopt", ALICE)
        assert (repaired.ok, repaired.code) == (False, "busy")
        assert "another process" in repaired.message and BOT_NAME in repaired.message
        (seen,) = await rig.use_cases.queries.bots()
        assert not seen.needs_attention

        await other.release_lane(bot)  # its fill was never stored: now it is a mismatch
        assert await rig.use_cases.reconciliation.reconcile() == ["Paper SA40: ours +0, broker +1"]
        (seen,) = await rig.use_cases.queries.bots()
        assert seen.needs_attention
        assert (await rig.use_cases.repairs.repair(BOT_NAME, "adopt", ALICE)).ok
    finally:
        await leader.close()
        await other.close()


class HeldPositions(FakeBroker):
    """A broker whose positions answer waits for `go`: reconciliation holds its bots meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.go = asyncio.Event()

    async def get_positions(self) -> list[BrokerPosition]:
        self.asked.set()
        await self.go.wait()
        return await super().get_positions()


async def test_a_signal_stored_elsewhere_while_reconciliation_held_its_bot_runs_when_it_lets_go(pg: Database) -> None:
    broker = HeldPositions()
    leader, other = PostgresCluster(pg.url, "lead:1"), PostgresCluster(pg.url, "other:2")
    await leader.start()
    await other.start()
    rigs = [make_rig(pg, broker, runner=replace(QUIET, cluster=c)) for c in (leader, other)]
    try:
        bot = await rigs[0].bot()
        for rig in rigs:
            await rig.runner.start()
        reconciling = asyncio.create_task(rigs[0].use_cases.reconciliation.reconcile())
        await broker.asked.wait()  # the leader holds the bot's lane now
        sid = await rigs[1].signal(bot, SignalAction.ENTER_LONG)
        rigs[1].runner.wake_bot(bot)  # the other process finds the lane taken and leaves it
        await asyncio.sleep(0.3)
        assert await rigs[0].state(sid) is SignalState.RECEIVED
        broker.go.set()
        assert await reconciling == []
        # No sweep runs within the hour: the leader looked for it when it let go.
        assert await settle(rigs[0], [sid], within=10) == [SignalState.EXECUTED]
    finally:
        for rig in rigs:
            await rig.runner.stop(1)
        await leader.close()
        await other.close()
