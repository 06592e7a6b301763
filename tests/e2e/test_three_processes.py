"""Three `signaldesk serve` processes on one PostgreSQL database with the Herenya simulator
(issue 26's end-to-end tests, on one module-scoped set of processes, in this order):
- an SSE subscriber on one process sees the events the others commit;
- the web desk's Overview, on any process, lists the three and marks the leader;
- alerts for 20 bots sent round-robin to the three, the leader killed with kill -9 mid-burst:
  every accepted alert ends final, each once; each bot's orders reached the simulator in
  its alerts' order; a new leader reports within 15 s;
- the process running a bot's lane killed while that bot's order is in flight (the
  simulator holds its answer): the order is not sent twice and the signal ends executed."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from db.cluster import LANES
from tests.conftest import fresh_postgres_database, postgres_server_url
from tests.e2e.procs import API_TOKEN, Processes, Serve, Simulator, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

BURST_BOTS = 20
FINAL = {"executed", "failed", "rejected", "expired", "canceled", "ignored", "refused"}
ACTIONS = ("RSI_LONG_ENTRY", "RSI_CLOSE_LONG", "RSI_LONG_ENTRY")  # per bot, in this order


def bot(name: str, key: str) -> dict[str, str]:
    return {"bot_name": name, "symbol": "SA40", "broker_account": "Herenya", "mode": "auto", "webhook_key": key}


BURST = [bot(f"Burst{b:02d}", f"burst_webhook_key_{b:02d}") for b in range(BURST_BOTS)]
FEED_BOT = bot("FeedWatch", "feed_watch_webhook_key")
IN_FLIGHT = bot("InFlight", "in_flight_webhook_key")


class Desk:
    def __init__(self, procs: Processes, sim: Simulator, serves: list[Serve], url: str) -> None:
        self.procs, self.sim, self.serves, self.url = procs, sim, serves, url

    def alive(self) -> list[Serve]:
        return [s for s in self.serves if s.process.alive()]

    def leader(self) -> Serve | None:
        return next((s for s in self.alive() if cluster(s)["leader"]), None)


def cluster(serve: Serve) -> dict[str, Any]:
    return dict(serve.http.get("/health").json()["cluster"])


def alert(action: str, n: str) -> dict[str, str]:
    return {"action": action, "price": "53210.5", "time": now_iso(), "id": n}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("three")
    loop = asyncio.new_event_loop()
    database = fresh_postgres_database(postgres_server_url())
    url = loop.run_until_complete(database.__aenter__())
    try:
        with processes(tmp) as procs:
            sim = procs.simulator(config=sim_config(tmp / "sim.toml", symbols={"SA40": "53210.5"}))
            env = procs.serve_env(url, sim, CLUSTER_RETRY_SECONDS="1", SIGNALDESK_FEED_POLL_SECONDS="0.2")
            procs.import_bots(env, [*BURST, FEED_BOT, IN_FLIGHT])
            first = procs.serve(env)  # leads: the first to start
            with ThreadPoolExecutor(2) as pool:
                others = list(pool.map(lambda _: procs.serve(env), range(2)))
            yield Desk(procs, sim, [first, *others], url)
    finally:
        loop.run_until_complete(database.__aexit__(None, None, None))
        loop.close()


def test_an_sse_subscriber_sees_what_the_other_processes_commit(desk: Desk) -> None:
    watcher, *others = desk.serves
    seen: list[dict[str, Any]] = []
    opened = threading.Event()

    def watch() -> None:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        with (
            httpx.Client(base_url=watcher.base_url, headers=headers, timeout=httpx.Timeout(10, read=20)) as http,
            http.stream("GET", "/api/events/stream") as stream,
        ):
            opened.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
                if len({e.get("signal_id") for e in seen if e.get("kind") == "OrderFilled"}) >= len(others):
                    return

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    assert opened.wait(10)
    time.sleep(0.3)  # subscribed (the stream's first bytes come after the subscription)
    ids = []
    for n, serve in enumerate(others):
        answer = serve.webhook(FEED_BOT["webhook_key"], alert(ACTIONS[n % 2], f"feed-{n}")).json()
        ids.append(answer["signal_id"])
        serve.wait_state(answer["signal_id"], {"executed"}, 20)
    reader.join(15)
    filled = {e["signal_id"] for e in seen if e["kind"] == "OrderFilled"}
    assert set(ids) <= filled, seen
    assert [e["seq"] for e in seen] == sorted({e["seq"] for e in seen})  # in number order, each once


def test_the_overview_lists_the_three_processes_and_the_leader(desk: Desk) -> None:
    names = [str(cluster(s)["process"]) for s in desk.serves]
    page = desk.serves[1].http.get("/")
    assert page.status_code == 200, page.text
    listed = re.findall(r"<li><code>([^<]+)</code>(.*?)</li>", page.text.split("<h2>Processes</h2>", 1)[1])
    assert sorted(name for name, _ in listed) == sorted(names)
    tags = {name: rest for name, rest in listed}
    assert "leads" in tags[names[0]] and "drew this page" in tags[names[1]]
    assert "leads" not in tags[names[1]] + tags[names[2]]


def test_the_leader_killed_mid_burst_every_accepted_alert_ends_final_once_and_in_order(desk: Desk) -> None:
    leader = desk.leader()
    assert leader is desk.serves[0]
    serves = desk.serves
    accepted: dict[str, list[int]] = {b["bot_name"]: [] for b in BURST}
    lost = []
    lock = threading.Lock()
    killed = threading.Event()

    def run_bot(b: int) -> None:
        name, key = BURST[b]["bot_name"], BURST[b]["webhook_key"]
        for j, action in enumerate(ACTIONS):
            serve = serves[(b + j) % len(serves)]  # round-robin over the three
            try:
                answer = serve.webhook(key, alert(action, f"burst-{b}-{j}"))
            except httpx.TransportError as e:  # the killed process: the alert is not accepted
                with lock:
                    lost.append((name, j, type(e).__name__))
                continue
            assert answer.status_code == 200, answer.text
            with lock:
                accepted[name].append(int(answer.json()["signal_id"]))
            if b % 2 == 0 and j == 0:
                killed.wait(10)  # half of the bots go on after the kill (some to the dead process)

    with ThreadPoolExecutor(BURST_BOTS) as pool:
        running = [pool.submit(run_bot, b) for b in range(BURST_BOTS)]
        wait_until(lambda: sum(map(len, accepted.values())) >= BURST_BOTS, 30, "a third of the burst", 0.005)
        killed_at = time.monotonic()
        leader.process.kill()  # kill -9, mid-burst
        before_kill = sum(map(len, accepted.values()))
        killed.set()
        for done in running:
            done.result()
    survivors = desk.alive()
    new_leader = wait_until(desk.leader, 15, "a new leader")
    took = time.monotonic() - killed_at
    assert took < 15 and new_leader in survivors

    every = sorted(sid for ids in accepted.values() for sid in ids)
    assert before_kill < len(every) and lost  # alerts came before and after the kill
    assert all(ids for ids in accepted.values())

    def all_final() -> list[dict[str, Any]] | None:
        signals = [s for s in new_leader.signals() if s["bot_name"].startswith("Burst")]
        return signals if all(s["state"] in FINAL for s in signals) else None

    signals = wait_until(all_final, 30, "every signal of the burst to be final", 0.2)
    by_id = {s["id"]: s for s in signals}
    assert set(every) <= set(by_id)  # an alert whose answer was lost may be stored too
    book = [o for o in desk.sim.book() if o["client_order_id"].startswith("sd-")]
    order_ids = [o["client_order_id"] for o in book]
    assert len(order_ids) == len(set(order_ids))  # nothing sent twice
    placed: dict[int, int] = {}
    for oid in order_ids:
        sid = int(oid.split("-")[1])
        placed[sid] = placed.get(sid, 0) + 1
    burst_orders = {sid: n for sid, n in placed.items() if sid in by_id}
    executed = {sid for sid, s in by_id.items() if s["state"] == "executed"}
    assert executed <= set(burst_orders) and all(n == 1 for n in burst_orders.values())
    for name, ids in accepted.items():
        # the bot's orders reached the simulator in its alerts' order
        sent = [
            int(oid.split("-")[1]) for oid in order_ids if by_id.get(int(oid.split("-")[1]), {}).get("bot_name") == name
        ]
        assert sent == sorted(sent), (name, sent)
        assert ids == sorted(ids)
    print(f"\nburst: {len(every)} accepted, {len(lost)} lost to the kill, new leader in {took:.1f} s")


async def lane_holder(url: str, bot_name: str) -> str | None:
    """The process (host:pid) holding the bot's lane lock (db/cluster.py)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        bot_id = await conn.fetchval("SELECT id FROM trading_bots WHERE bot_name = $1", bot_name)
        return await conn.fetchval(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2",
            LANES,
            bot_id,
        )
    finally:
        await conn.close()


def test_the_lane_holder_killed_with_an_order_in_flight_sends_it_once(desk: Desk) -> None:
    sender, *rest = desk.alive()
    assert rest, "another process must be left to take the lane over"
    # Every request is carried out and answered 4 s late (under HERENYA_TIMEOUT's 5 s): the
    # order is placed at once; its answer is held while its process is killed.
    desk.sim.set_faults(delay_rate=1.0, delay=4.0)
    try:
        answer = sender.webhook(IN_FLIGHT["webhook_key"], alert("RSI_LONG_ENTRY", "in-flight-1")).json()
        sid = int(answer["signal_id"])
        oid = f"sd-{sid}-1"
        wait_until(lambda: any(o["client_order_id"] == oid for o in desk.sim.book()), 30, "the order to reach the sim")
        holder = asyncio.run(lane_holder(desk.url, IN_FLIGHT["bot_name"]))
        victim = next(s for s in desk.alive() if holder == f"{_host(s)}:{s.process.pid}")
    finally:
        desk.sim.set_faults(delay_rate=0.0)
    assert victim.signal(sid)["state"] == "executing"  # its answer not come yet: in flight
    victim.process.kill()  # kill -9 while its order waits for an answer
    survivor = next(s for s in desk.alive())
    assert survivor.wait_state(sid, {"executed", "failed"}, 30)["state"] == "executed"
    assert [o["client_order_id"] for o in desk.sim.book()].count(oid) == 1
    assert not any(o["client_order_id"] == f"sd-{sid}-2" for o in desk.sim.book())


def _host(serve: Serve) -> str:
    return str(cluster(serve)["process"]).rsplit(":", 1)[0]
