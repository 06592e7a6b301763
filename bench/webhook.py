"""Webhook intake benchmark: the real `signaldesk serve` on loopback, loaded from this process.

    .venv/bin/python bench/webhook.py [--root CHECKOUT] [--seconds 10] [--rates 200,1000] [--concurrency 32]
                                      [--ceiling] [--json FILE]

Starts the server on a fresh SQLite file (the default database) with one auto-mode bot on
the paper broker, imported with `signaldesk bots import`, so every accepted alert is also
executed by the runner in the same process, as in production. Then, from this separate
process, sends unique alerts (no duplicates):

- at each fixed rate (open loop: requests leave on schedule whether or not earlier ones
  were answered, so a slow server shows up as latency, not as a politely lower rate);
- at the maximum rate (closed loop: `--concurrency` connections sending back to back).

A short warm-up comes first (not reported), and each phase starts only once the server
has executed every alert of the one before (its CPU falls idle), so one phase's executions
do not run into the next; how long that took is printed under each phase: it shows how far
the bot's executions lagged behind what intake accepted. With --no-drain serve is stopped
right after the last phase instead (its figures are the same; the run is shorter by the
executions' lag, about two minutes after the closed loop: bench/compare.py's --rounds).

Prints accepted alerts/s, answer latency p50/p99 per phase, and the server's peak RSS
(VmHWM). Targets: >= 1,000 alerts/s sustained; p99 <= 25 ms at 200/s; RSS <= 150 MB.

With --ceiling, once signaldesk is stopped, the same warm-up and closed loop run against
bench/bare_app.py (a bare Quart app on Hypercorn that only parses the JSON, in its own
process, this checkout's environment): the most the framework and server alone answer on
this machine. Both figures are printed side by side with their ratio (issue 22's floor:
signaldesk at least half of the ceiling). `--rates ''` runs the closed loop alone.
The client is a minimal HTTP/1.1 keep-alive client on asyncio streams, to leave as much
of the 2 cores as possible to the server.

With --postgres serve runs on PostgreSQL (a throwaway cluster, bench/pg.py, or the URL given),
and with --processes N (PostgreSQL only, issue 26) N serves form one desk: the connections are
spread round-robin over them, as a load balancer would, and the CPU figures are all N's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bench/pg.py reads tests/e2e/procs.py

from pg import THROWAWAY, database  # noqa: E402  (bench/, beside this script)
from proc_stats import cpu_seconds, peak_rss_mb  # noqa: E402  (bench/, beside this script)

KEY = "bench_auto_5f2c9d1e"
BOTS_TOML = f"""
[[bots]]
bot_name = "Bench_Auto"
broker_account = "Paper"
symbol = "SA40"
mode = "auto"
allow_pyramiding = true
max_positions = 3
webhook_key = "{KEY}"
max_signal_age_seconds = 300
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signaldesk(root: Path | None = None) -> str:
    """This environment's `signaldesk`, or that of the checkout `root` (its .venv)."""
    folder = root.resolve() / ".venv" / "bin" if root is not None else Path(sys.executable).parent
    found = shutil.which("signaldesk", path=str(folder))
    if not found:
        raise SystemExit(f"signaldesk is not installed in {folder}: run `make setup` first")
    return found


def wait_idle(pid: int, within: float = 600.0) -> float:
    """Until the server has executed what it accepted (its CPU falls to near nothing), so a
    phase's executions do not run into the next phase; how long that took, in seconds."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:  # under 10% of a core
            return time.monotonic() - start
    raise SystemExit(f"signaldesk serve still busy {within:.0f} s after the phase")


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: int = 0
    errors: int = 0
    elapsed: float = 0.0
    late_starts: int = 0  # open loop: requests that could not leave on schedule (no free connection)
    unsent: int = 0  # open loop: requests still without a connection when the phase ended

    def record(self, status: int, answer: bytes, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200 and json.loads(answer).get("status") == "accepted":
            self.accepted += 1

    def report(self) -> str:
        lat = sorted(self.latencies)
        if not lat:
            return f"{self.name}: no answers ({self.errors} errors)"
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        rate = self.accepted / self.elapsed if self.elapsed else 0.0
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        extra = f", late starts {self.late_starts}" if self.late_starts else ""
        extra += f", never sent {self.unsent}" if self.unsent else ""
        return (
            f"{self.name:<14} accepted {self.accepted:>6} in {self.elapsed:5.1f} s = {rate:7.0f} alerts/s   "
            f"p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {lat[-1] * 1000:6.1f} ms   "
            f"[{codes}; errors {self.errors}{extra}]"
        )


_counter = itertools.count(1)


def alert_body() -> bytes:
    n = next(_counter)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    # Unique per request (the id), so nothing is answered as a duplicate.
    action = "RSI_LONG_ENTRY" if n % 2 else "RSI_CLOSE_LONG"
    return json.dumps(
        {"action": action, "price": 53000 + n % 500, "time": now, "id": f"bench-{os.getpid()}-{n}"}
    ).encode()


GRACE = 5.0  # seconds past a fixed-rate phase for requests to find a connection; then they are dropped


async def fixed_rate(ports: list[int], rate: float, seconds: float, connections: int) -> Phase:
    phase = Phase(f"{rate:g}/s")
    pool: asyncio.Queue[tuple[int, Connection]] = asyncio.Queue()
    for i in range(connections):
        port = ports[i % len(ports)]
        pool.put_nowait((port, await Connection.open(port)))
    path = f"/webhook/{KEY}"

    async def one(scheduled: float) -> None:
        if pool.empty():
            phase.late_starts += 1
        try:
            # An overloaded server would otherwise keep the phase going for minutes.
            async with asyncio.timeout_at(loop_start + seconds + GRACE):
                port, conn = await pool.get()
        except TimeoutError:
            phase.unsent += 1
            return
        try:
            status, answer = await conn.post(path, alert_body())
            # From the scheduled departure: waiting for a connection counts against the server.
            phase.record(status, answer, time.perf_counter() - scheduled)
            pool.put_nowait((port, conn))
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            phase.errors += 1
            pool.put_nowait((port, await Connection.open(port)))

    total = int(rate * seconds)
    loop_start = asyncio.get_running_loop().time()
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    phase.elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait()[1].close()
    return phase


async def max_rate(ports: list[int], seconds: float, concurrency: int) -> Phase:
    phase = Phase(f"max (c={concurrency})")
    path = f"/webhook/{KEY}"
    deadline = time.perf_counter() + seconds

    async def worker(port: int) -> None:
        conn = await Connection.open(port)
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    status, answer = await conn.post(path, alert_body())
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    phase.errors += 1
                    conn.close()
                    conn = await Connection.open(port)
                    continue
                phase.record(status, answer, time.perf_counter() - sent)
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(concurrency)))
    phase.elapsed = time.perf_counter() - start
    return phase


async def wait_until_up(port: int, server: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server ({server.args[0]}) exited with {server.returncode} before answering")
        try:
            conn = await Connection.open(port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        conn.writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await conn.writer.drain()
        line = await conn.reader.readline()
        conn.close()
        if line:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the server did not answer within {within:g} s")


def rates(args: argparse.Namespace) -> list[float]:
    return [float(r) for r in args.rates.split(",") if r.strip()]


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def closed_loop_ceiling(args: argparse.Namespace, folder: Path) -> Phase:
    """The closed loop against bench/bare_app.py, with the same warm-up and load as signaldesk's."""
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("bare_app.py")), "--port", str(port)]
    with (folder / "bare_app.log").open("wb") as log:
        server = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        try:
            asyncio.run(wait_until_up(port, server))
            asyncio.run(fixed_rate([port], 50.0, 2.0, args.connections))  # warm-up, as signaldesk's
            cpu, wall = cpu_seconds(server.pid), time.monotonic()
            phase = asyncio.run(max_rate([port], args.seconds, args.concurrency))
            cpu, wall = cpu_seconds(server.pid) - cpu, time.monotonic() - wall
        finally:
            stop(server)
    phase.name = f"bare (c={args.concurrency})"
    print(phase.report(), flush=True)
    print(f"{'':15}the bare app used {cpu / wall:.2f} cores during the phase", flush=True)
    return phase


def rate_of(phase: Phase) -> float:
    return phase.accepted / phase.elapsed if phase.elapsed else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument(
        "--rates", default="200,1000", help="fixed rates to run, alerts/s, comma-separated ('' for none)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections for the max-rate phase")
    parser.add_argument("--connections", type=int, default=64, help="connection pool for the fixed-rate phases")
    parser.add_argument(
        "--root", type=Path, default=None, help="the checkout whose .venv/bin/signaldesk serves (default: this one)"
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also run the closed loop against bench/bare_app.py (bare Quart on Hypercorn) and print the ratio",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file (compare.py)")
    parser.add_argument(
        "--no-drain",
        action="store_true",
        help="stop serve right after the last phase instead of waiting for its executions (repeated runs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, server log)")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=THROWAWAY,
        default=None,
        metavar="URL",
        help="serve on PostgreSQL: this (empty) database's URL, or a throwaway cluster (default: SQLite)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="serves forming one desk, connections round-robin (PostgreSQL only)"
    )
    args = parser.parse_args()
    if args.processes < 1 or (args.processes > 1 and args.postgres is None):
        parser.error("--processes: at least 1, and more than 1 only with --postgres (SQLite serves one process)")

    folder = Path(tempfile.mkdtemp(prefix="signaldesk-bench-"))
    with database(args.postgres, folder) as url:
        return run(args, folder, url)


def run(args: argparse.Namespace, folder: Path, url: str) -> int:
    ports = [free_port() for _ in range(args.processes)]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        # Where the secret key is generated and kept (beside a SQLite file it is by default;
        # several processes on PostgreSQL need the one key).
        "SIGNALDESK_DATA_DIR": str(folder),
        "SIGNALDESK_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # The limits protect production from floods; here the flood is the point.
        "WEBHOOK_RATE_PER_KEY": "0",
        "WEBHOOK_RATE_PER_IP": "0",
        "WEBHOOK_MAX_CONNECTIONS_PER_IP": "0",
    }
    for name in ("DISCORD_TOKEN", "TELEGRAM_BOT_TOKEN", "SIGNALDESK_API_TOKEN", "BOTS_FILE", "DATABASE_URL_FILE"):
        env.pop(name, None)
    (folder / "bots.toml").write_text(BOTS_TOML)
    phases: list[Phase] = []
    ceiling: Phase | None = None
    try:
        subprocess.run(
            [signaldesk(args.root), "bots", "import", str(folder / "bots.toml")],
            env=env,
            cwd=folder,
            check=True,
            timeout=120,
        )
        log = (folder / "server.log").open("wb")
        servers = [
            subprocess.Popen(
                [signaldesk(args.root), "serve"],
                env={**env, "SIGNALDESK_PORT": str(port)},
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for port in ports
        ]
        server = servers[0]
        try:
            for port, one in zip(ports, servers, strict=True):
                asyncio.run(wait_until_up(port, one))
            kind = "SQLite at " + str(folder / "signaldesk.db") if url.startswith("sqlite") else "PostgreSQL"
            pids = ", ".join(f"{one.pid} on 127.0.0.1:{port}" for port, one in zip(ports, servers, strict=True))
            print(f"signaldesk serve pid {pids}; {kind}")
            print(f"serve is {signaldesk(args.root)}")
            print(f"cores: {os.cpu_count()}; each phase {args.seconds:g} s; load from a separate process")
            # Warm-up, not reported: the first alerts prepare the statements and fill the caches.
            asyncio.run(fixed_rate(ports, 50.0, 2.0, args.connections))
            for one in servers:
                wait_idle(one.pid)
            print("each phase starts once the previous one's alerts are all executed\n")
            runs = [(f"{r:g}/s", lambda r=r: fixed_rate(ports, r, args.seconds, args.connections)) for r in rates(args)]
            runs.append((f"max (c={args.concurrency})", lambda: max_rate(ports, args.seconds, args.concurrency)))

            def serve_cpu() -> float:
                return sum(cpu_seconds(one.pid) for one in servers)

            for n, (_name, phase_of) in enumerate(runs, 1):
                cpu, wall = serve_cpu(), time.monotonic()
                phases.append(asyncio.run(phase_of()))
                cpu, wall = serve_cpu() - cpu, time.monotonic() - wall
                print(phases[-1].report(), flush=True)
                # How much of a core serve got during the phase: below ~1.0 under saturation,
                # something else on the machine had the CPU.
                print(f"{'':15}serve used {cpu / wall:.2f} cores during the phase", flush=True)
                if args.no_drain and n == len(runs):
                    print(f"{'':15}executions not waited for (--no-drain): serve stops now", flush=True)
                    break
                idle = max(wait_idle(one.pid) for one in servers)
                print(f"{'':15}executed by {idle:.1f} s after the phase ended", flush=True)
            rss = peak_rss_mb(server.pid)
        finally:
            for one in servers:
                stop(one)
            log.close()
        # Only once signaldesk is stopped, so the two servers never share the cores.
        if args.ceiling:
            ceiling = closed_loop_ceiling(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    closed = phases[-1]
    print(f"\nserver peak RSS (VmHWM): {rss:.0f} MB")
    if ceiling is not None:
        share = rate_of(closed) / rate_of(ceiling) if rate_of(ceiling) else float("nan")
        print(
            f"\nclosed loop (c={args.concurrency}): signaldesk {rate_of(closed):.0f} alerts/s, "
            f"bare Quart on Hypercorn {rate_of(ceiling):.0f} alerts/s: ratio {share:.2f} "
            f"[floor >= 0.5: {'met' if share >= 0.5 else 'MISSED'}]"
        )
    at_200 = next((p for p in phases if p.name == "200/s"), None)
    best = max(rate_of(p) for p in phases)
    print("\ntargets:")
    print(f"  >= 1000 alerts/s sustained : best {best:.0f}/s -> {'met' if best >= 1000 else 'NOT met'}")
    if at_200 is not None and at_200.latencies:
        lat = sorted(at_200.latencies)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(f"  p99 <= 25 ms at 200/s      : {p99:.1f} ms -> {'met' if p99 <= 25 else 'NOT met'}")
    print(f"  RSS <= 150 MB              : {rss:.0f} MB -> {'met' if rss <= 150 else 'NOT met'}")
    if args.json is not None:
        figures = {
            "closed_loop_per_s": rate_of(closed),
            "closed_loop_statuses": {str(k): v for k, v in sorted(closed.statuses.items())},
            "closed_loop_errors": closed.errors,
            "ceiling_per_s": rate_of(ceiling) if ceiling is not None else None,
            "ceiling_ratio": rate_of(closed) / rate_of(ceiling) if ceiling is not None and rate_of(ceiling) else None,
            "peak_rss_mb": rss,
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
