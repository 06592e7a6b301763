"""A long day against the real `signaldesk serve` (issue 25, item 4): alerts at a steady rate
across many bots, the Herenya simulator failing a share of requests, and a sample of the
process every interval: resident memory, open sockets, asyncio tasks and database
connections (from serve's `runtime:` log line, RUNTIME_STATS_INTERVAL_SECONDS) and the
database's size. Used by bench/soak.py (30 minutes) and tests/e2e/test_soak.py (3 minutes).

"Flat" is judged on the samples after the warm-up, in thirds: the lowest value of the last
third against the highest of the first. A leak raises the floor and keeps it raised; a
single reading that catches more requests and lanes in flight (a busy machine) does not.
Memory may grow by `rss_growth` at most; tasks, database connections and sockets not beyond
the noise of requests in flight (`slack`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.procs import Processes, Serve, now_iso, sim_config, wait_until

RUNTIME_LINE = re.compile(r"runtime: (\d+) asyncio tasks, (\d+) database connections")
FINAL = {"executed", "refused", "ignored", "failed", "rejected", "expired", "canceled"}
PRICE = "1000.5"


@dataclass
class Sample:
    minutes: float
    rss_mb: float
    sockets: int
    tasks: int
    db_connections: int
    db_bytes: int
    sent: int

    def line(self) -> str:
        return (
            f"{self.minutes:6.1f} min  RSS {self.rss_mb:6.1f} MB  sockets {self.sockets:4d}  tasks {self.tasks:4d}  "
            f"db connections {self.db_connections:3d}  db {self.db_bytes / 1024 / 1024:7.1f} MiB  alerts {self.sent}"
        )


@dataclass
class Verdict:
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)

    @property
    def flat(self) -> bool:
        return not self.problems


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not in /proc status")


def sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed while we looked
            continue
    return count


def file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += path.with_name(path.name + suffix).stat().st_size
        except FileNotFoundError:
            continue
    return total


def latest_runtime(log: str) -> tuple[int, int]:
    found = RUNTIME_LINE.findall(log)
    if not found:
        raise RuntimeError("serve logged no `runtime:` line (RUNTIME_STATS_INTERVAL_SECONDS)")
    tasks, connections = found[-1]
    return int(tasks), int(connections)


def bot_rows(count: int) -> list[dict[str, Any]]:
    # One symbol per bot: a bot's close never meets another bot's position.
    return [
        {
            "bot_name": f"Soak{n:02d}",
            "symbol": f"SK{n:02d}",
            "broker_account": "Herenya",
            "mode": "auto",
            "base_position_size": 1,
            "webhook_key": f"soak_bot_{n:02d}_key_0123456789abcdef",
            "max_slippage_pct": "1.0",
        }
        for n in range(count)
    ]


class Sender:
    """`rate` alerts/s round-robin over the bots, each bot alternating entry and close."""

    def __init__(self, serve: Serve, bots: list[dict[str, Any]], rate: float) -> None:
        self.http = httpx.Client(base_url=serve.base_url, timeout=10.0, limits=httpx.Limits(max_connections=64))
        self.bots, self.rate = bots, rate
        self.sent = 0
        self.answers: Counter[int | str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=32)
        self._thread = threading.Thread(target=self._run, name="soak-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            n = self.sent
            bot = self.bots[n % len(self.bots)]
            round_ = n // len(self.bots)
            action = "RSI_LONG_ENTRY" if round_ % 2 == 0 else "RSI_CLOSE_LONG"
            body = {"action": action, "price": PRICE, "time": now_iso(), "id": f"soak-{n}"}
            self._pool.submit(self._send, bot["webhook_key"], body)
            self.sent += 1
            delay = start + (n + 1) / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def _send(self, key: str, body: dict[str, Any]) -> None:
        try:
            status: int | str = self.http.post(f"/webhook/{key}", json=body).status_code
        except httpx.HTTPError as e:
            status = type(e).__name__
        with self._lock:
            self.answers[status] += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._pool.shutdown(wait=True)
        self.http.close()


def soak(
    procs: Processes,
    workdir: Path,
    *,
    minutes: float,
    rate: float,
    bots: int,
    fault_rate: float,
    warmup_minutes: float,
    sample_seconds: float,
    rss_growth: float | None = 0.10,
    slack: float = 0.10,
    report: Callable[[str], None] = print,
) -> Verdict:
    """Run the day and judge it; `rss_growth=None` leaves memory unjudged (a short run)."""
    rows = bot_rows(bots)
    sim = procs.simulator(
        config=sim_config(workdir / "sim.toml", symbols={r["symbol"]: PRICE for r in rows}, max_quantity=1000)
    )
    for r in rows:
        sim.set_quote(r["symbol"], "1000", "1001")
    path = workdir / "soak.db"
    env = procs.serve_env(
        f"sqlite+aiosqlite:///{path}",
        sim,
        RUNTIME_STATS_INTERVAL_SECONDS=str(max(1.0, sample_seconds / 6)),
    )
    procs.import_bots(env, rows)
    serve = procs.serve(env)
    sim.set_faults(error_rate=fault_rate)
    sender = Sender(serve, rows, rate)
    samples: list[Sample] = []
    started = time.monotonic()
    sender.start()
    try:
        while (elapsed := time.monotonic() - started) < minutes * 60:
            time.sleep(min(sample_seconds, minutes * 60 - elapsed))
            tasks, connections = latest_runtime(serve.process.output(tail=2_000_000))
            pid = serve.process.pid
            sample = Sample(
                (time.monotonic() - started) / 60,
                rss_mb(pid),
                sockets(pid),
                tasks,
                connections,
                file_bytes(path),
                sender.sent,
            )
            samples.append(sample)
            report(sample.line())
            if not serve.process.alive():
                raise RuntimeError(f"serve died:\n{serve.process.output()}")
    finally:
        sender.stop()
    sim.set_faults(error_rate=0.0)
    verdict = Verdict(samples)
    verdict.problems += [f"{n} alerts answered {status}" for status, n in sender.answers.items() if status != 200]

    def settled() -> Counter[str] | None:
        # Every signal of the day, from the database file itself (the API pages by 500).
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            states = Counter(
                {state: n for state, n in db.execute("SELECT state, count(*) FROM signals GROUP BY state")}
            )
        return states if states and set(states) <= FINAL else None

    try:
        verdict.states = wait_until(settled, 120.0, "every signal to be final", interval=0.5)
    except TimeoutError as e:
        verdict.problems.append(str(e))
    _judge(verdict, warmup_minutes, rss_growth, slack)
    return verdict


def _judge(verdict: Verdict, warmup_minutes: float, rss_growth: float | None, slack: float) -> None:
    after = [s for s in verdict.samples if s.minutes >= warmup_minutes]
    if len(after) < 3:
        verdict.problems.append(f"only {len(after)} samples after the warm-up: too short to judge")
        return
    third = max(1, len(after) // 3)
    first, last = after[:third], after[-third:]
    if rss_growth is not None:
        base = after[0].rss_mb
        top = max(s.rss_mb for s in after)
        if top > base * (1 + rss_growth):
            verdict.problems.append(f"RSS grew from {base:.1f} MB to {top:.1f} MB (more than {rss_growth:.0%})")
    for name in ("tasks", "db_connections", "sockets"):
        before = max(getattr(s, name) for s in first)
        now = min(getattr(s, name) for s in last)
        # A leak grows without bound; one more pooled connection or a few more requests in
        # flight at the moment of a reading (a busy machine) is noise, not growth.
        allowed = before * (1 + slack) + 2
        if now > allowed:
            verdict.problems.append(f"{name} grew: at most {before} early after the warm-up, at least {now} at the end")
