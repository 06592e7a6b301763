"""Bots run side by side: 60 auto-mode bots against a broker that takes 100 ms per call,
50 signals/s for 10 s spread across the bots.

    .venv/bin/python bench/side_by_side.py [--root CHECKOUT] [--bots 60] [--rate 50] [--seconds 10] [--latency 0.1]
                                           [--json FILE]

Starts the Herenya simulator and `signaldesk serve` (of --root's .venv) on loopback. The
simulator's added latency is its `delay` fault at a rate of 1: every authenticated /v1 call
(quotes, instruments, orders, look-ups; not /v1/time) is carried out, then its answer is held
back --latency seconds. --bots auto-mode bots on the Herenya broker, one instrument each,
are warmed up with one entry and one close each (instrument details cached). Then alerts
leave at --rate per second for --seconds, alert n for bot n mod --bots, each bot's alerts
alternating entry and close (so each makes one order when a bot's signals run in arrival
order), from a pool of keep-alive connections.

Prints: signals executed / sent and the count of each final state; whether each bot's
orders reached the broker in its alerts' order (the simulator's book, which lists orders as
placed); received -> fill per signal, from the `received` stamp in the signal's history
(signaldesk's clock, when the request reached the webhook) to the `executed` stamp (when
signaldesk had the broker's answer that the order filled), and to the order's fill in the
simulator's book (before its held-back answer); serve's CPU time. Floor (issue 14): all
execute, each bot in order, p99 received -> fill <= 400 ms. No alert may be refused for
load: the answers are counted by status (200 and every other one apart).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from checkout import add_root_argument, checkout_processes, describe  # noqa: E402  (bench/)
from pipeline import epoch_ms, percentile  # noqa: E402  (bench/)
from proc_stats import cpu_seconds, machine_cpu  # noqa: E402  (bench/)
from webhook import Connection  # noqa: E402  (bench/: a minimal keep-alive HTTP/1.1 client)

from tests.e2e.procs import Serve, Simulator, now_iso, sim_config, wait_until  # noqa: E402

FLOOR_P99_MS = 400.0
UNFINISHED = ("received", "queued", "executing", "pending_approval", "approved")
CLIENT_ORDER_ID = re.compile(r"^sd-(\d+)-")


def symbols(n: int) -> dict[str, str]:
    return {f"S{i:02d}X": str(Decimal(30000 + 100 * i) + Decimal("0.5")) for i in range(n)}


def bot_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "bot_name": f"Side{i:02d}",
            "symbol": symbol,
            "broker_account": "Herenya",
            "mode": "auto",
            "base_position_size": 1,
            "max_positions": 1,
            "webhook_key": f"side_bot_key_{i:02d}",
            "max_slippage_pct": "0.5",
        }
        for i, symbol in enumerate(symbols(n))
    ]


class Sent(NamedTuple):
    bot: str
    n: int  # departure order over all alerts
    status: int | str  # HTTP status, or the error's name
    signal_id: int | None
    answer_ms: float  # from the alert's departure time to its answer (waiting for a connection included)


class Load:
    def __init__(self, serve: Serve, bots: list[dict[str, Any]]) -> None:
        self.serve = serve
        self.bots = bots
        self.prices = symbols(len(bots))
        self.open = {b["bot_name"]: False for b in bots}
        self.count = 0
        self.port = int(serve.base_url.rsplit(":", 1)[1])

    def alert(self, bot: dict[str, Any]) -> dict[str, Any]:
        action = "RSI_CLOSE_LONG" if self.open[bot["bot_name"]] else "RSI_LONG_ENTRY"
        self.open[bot["bot_name"]] = not self.open[bot["bot_name"]]
        self.count += 1
        return {"action": action, "price": self.prices[bot["symbol"]], "time": now_iso(), "id": f"side-{self.count}"}

    async def send(self, rate: float, count: int, connections: int = 64) -> list[Sent]:
        """`count` alerts at `rate`/s, alert n for bot n mod len(bots)."""
        out: list[Sent] = []
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(await Connection.open(self.port))

        async def one(n: int, bot: dict[str, Any], alert: dict[str, Any]) -> None:
            departed = loop.time()
            conn = await pool.get()
            try:
                status, body = await conn.post(f"/webhook/{bot['webhook_key']}", json.dumps(alert).encode())
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as e:
                out.append(Sent(bot["bot_name"], n, type(e).__name__, None, (loop.time() - departed) * 1000))
                pool.put_nowait(await Connection.open(self.port))
                return
            pool.put_nowait(conn)
            sid = json.loads(body).get("signal_id") if status == 200 else None
            out.append(Sent(bot["bot_name"], n, status, sid, (loop.time() - departed) * 1000))

        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tasks = []
        for n in range(count):
            delay = t0 + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            bot = self.bots[n % len(self.bots)]
            tasks.append(asyncio.create_task(one(n, bot, self.alert(bot))))
        await asyncio.gather(*tasks)
        while not pool.empty():
            pool.get_nowait().close()
        return out

    def unfinished(self) -> bool:
        return any(self.serve.signals(state=state, limit=1) for state in UNFINISHED)


def line(name: str, xs: list[float]) -> str:
    if not xs:
        return f"    {name:<30} (none)"
    return (
        f"    {name:<30} p50 {percentile(xs, 0.5):6.1f} ms  p90 {percentile(xs, 0.9):6.1f} ms  "
        f"p99 {percentile(xs, 0.99):6.1f} ms  max {max(xs):6.1f} ms"
    )


def run_once(serve: Serve, sim: Simulator, bots: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, then the load; prints the figures and returns them (for --json)."""
    load = Load(serve, bots)
    for _ in range(2):  # warm-up: one entry, then one close per bot; not reported
        asyncio.run(load.send(20.0, len(bots)))
        wait_until(lambda: not load.unfinished() or None, 120.0, "the warm-up to finish", interval=0.2)
    warm_orders = len(sim.book())

    count = int(args.rate * args.seconds)
    calls_before = sim.http.get("/_sim/faults").raise_for_status().json()["injected"]["delay"]
    sim_cpu_before, (busy_before, total_before) = cpu_seconds(sim.process.pid), machine_cpu()
    cpu_before, wall = cpu_seconds(serve.process.pid), time.monotonic()
    sent = asyncio.run(load.send(args.rate, count))
    send_span = time.monotonic() - wall
    deadline = time.monotonic() + args.timeout
    while load.unfinished() and time.monotonic() < deadline:
        time.sleep(0.2)
    settled = time.monotonic() - wall
    cpu = cpu_seconds(serve.process.pid) - cpu_before
    sim_cpu = cpu_seconds(sim.process.pid) - sim_cpu_before
    busy, total = machine_cpu()
    machine = (busy - busy_before) / max(total - total_before, 1e-9)
    calls = sim.http.get("/_sim/faults").raise_for_status().json()["injected"]["delay"] - calls_before

    ids = {s.signal_id for s in sent if s.signal_id is not None}
    signals = {s["id"]: s for s in serve.signals(limit=500) if s["id"] in ids}
    if len(signals) < len(ids):  # more than the list gives at once: fetch the rest one by one
        for sid in ids - set(signals):
            signals[sid] = serve.signal(sid)
    states = Counter(s["state"] for s in signals.values())
    executed = states.get("executed", 0)

    # The broker's book lists orders as placed; per bot, the signals behind them should come
    # in the order that bot's alerts left.
    book = sim.book()[warm_orders:]
    placed: dict[str, list[tuple[int, str]]] = {}
    fills: dict[int, float] = {}
    for order in book:
        m = CLIENT_ORDER_ID.match(order["client_order_id"])
        if m is None:
            continue
        placed.setdefault(order["symbol"], []).append((int(m.group(1)), order["side"]))
        if order["status"] == "FILLED":
            fills.setdefault(int(m.group(1)), float(order["updated_at"]))
    symbol_of = {b["bot_name"]: b["symbol"] for b in bots}
    in_order = 0
    for bot in bots:
        expected = [s.signal_id for s in sorted(sent, key=lambda s: s.n) if s.bot == bot["bot_name"]]
        got = [sid for sid, _ in placed.get(symbol_of[bot["bot_name"]], [])]
        sides = [side for _, side in placed.get(symbol_of[bot["bot_name"]], [])]
        alternating = all(side == ("BUY" if i % 2 == 0 else "SELL") for i, side in enumerate(sides))
        in_order += got == [sid for sid in expected if sid in set(got)] and got == sorted(got) and alternating

    to_executed: list[float] = []
    to_book_fill: list[float] = []
    for sid, s in signals.items():
        received = next((h for h in s["history"] if h["state"] == "received"), None)
        done = next((h for h in s["history"] if h["state"] == "executed"), None)
        if received is None or done is None:
            continue
        to_executed.append(epoch_ms(done["at"]) - epoch_ms(received["at"]))
        if sid in fills:
            to_book_fill.append(fills[sid] - epoch_ms(received["at"]))

    # Where the time went: from each state in a signal's history to the next one.
    steps: dict[str, list[float]] = {}
    for s in signals.values():
        history = s["history"]
        for a, b in itertools.pairwise(history):
            steps.setdefault(f"{a['state']} -> {b['state']}", []).append(epoch_ms(b["at"]) - epoch_ms(a["at"]))

    answered = Counter(s.status for s in sent)
    ok = answered.get(200, 0)
    otherwise = {str(k): v for k, v in sorted(answered.items(), key=str) if k != 200}
    p99 = percentile(to_executed, 0.99)
    all_done = executed == count
    met = all_done and in_order == len(bots) and p99 <= FLOOR_P99_MS
    print(
        f"  {count} alerts at {args.rate:g}/s over {send_span:.1f} s across {len(bots)} bots "
        f"(each bot's alerts {len(bots) / args.rate:.2f} s apart)"
    )
    # Refused for load would show here as 429 or 503 (or a connection error's name).
    print(f"    answered 200: {ok}; otherwise: {sum(otherwise.values())} {otherwise or ''}".rstrip())
    print(
        f"    executed / sent: {executed}/{count}; final states {dict(sorted(states.items()))}; "
        f"everything settled {settled:.1f} s after the first alert"
    )
    print(
        f"    bots whose orders reached the broker in their alerts' order (entry, close, ...): {in_order}/{len(bots)}"
    )
    # Alerts ahead of executions (issue 22): answers stay fast while the bots execute.
    print(line("webhook answer", [s.answer_ms for s in sent]))
    print(line("received -> executed (desk)", to_executed))
    print(line("received -> fill in the book", to_book_fill))
    print("    where the time went, from one state in the signals' history to the next:")
    for name, xs in sorted(steps.items(), key=lambda kv: -len(kv[1])):
        print(line(f"  {name} ({len(xs)})", xs))
    print(
        f"    broker calls (each +{args.latency * 1000:g} ms): {calls}, {calls / max(count, 1):.2f} per signal; "
        f"CPU over those {settled:.1f} s: serve {cpu:.1f} s ({cpu * 1000 / max(count, 1):.1f} ms per signal), "
        f"simulator {sim_cpu:.1f} s; the machine's {os.cpu_count()} cores {machine:.0%} busy (all processes)"
    )
    print(
        f"    floor: all execute, each bot in order, p99 received -> fill <= {FLOOR_P99_MS:g} ms: "
        f"{'met' if met else 'MISSED'} (p99 {p99:.1f} ms)"
    )
    return {
        "alerts": count,
        "answered_200": ok,
        "answered_otherwise": otherwise,
        "executed": executed,
        "states": dict(states),
        "bots_in_order": in_order,
        "bots": len(bots),
        "received_to_fill_p99_ms": p99,
        "answer_p99_ms": percentile([s.answer_ms for s in sent], 0.99),
        "received_to_book_fill_p99_ms": percentile(to_book_fill, 0.99),
        "serve_cpu_ms_per_signal": cpu * 1000 / max(count, 1),
        "floor_met": met,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_root_argument(parser)
    parser.add_argument("--bots", type=int, default=60)
    parser.add_argument("--rate", type=float, default=50.0, help="signals/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the simulator adds to each call")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every signal final")
    parser.add_argument(
        "--db-dir", type=Path, default=None, help="where the SQLite file's temporary folder goes (default: /tmp)"
    )
    parser.add_argument("--log-level", default="INFO", help="serve's LOG_LEVEL (INFO is the default in production)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file (compare.py)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sd-side-"))
        db = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sd-side-db-", dir=args.db_dir)))
        procs = stack.enter_context(checkout_processes(Path(tmp), args.root))  # killed first
        work = Path(tmp)
        rows = bot_rows(args.bots)
        config = sim_config(work / "sim.toml", symbols=symbols(args.bots))
        with config.open("a", encoding="utf-8") as f:
            f.write(f"\n[faults]\ndelay_rate = 1.0\ndelay = {args.latency}\n")
        sim = procs.simulator(config=config)
        for symbol, price in symbols(args.bots).items():
            p = Decimal(price)
            sim.set_quote(symbol, str(p - Decimal("0.5")), str(p + Decimal("0.5")))
        url = f"sqlite+aiosqlite:///{db / 'signaldesk.db'}"
        env = procs.serve_env(url, sim, LOG_LEVEL=args.log_level, MONITOR_INTERVAL_SECONDS="5")
        procs.import_bots(env, rows)
        serve = procs.serve(env)
        print(f"signaldesk side-by-side bench: serve from {describe(args.root)}")
        print(
            f"  {args.bots} auto-mode bots on the Herenya broker against the simulator adding "
            f"{args.latency * 1000:g} ms to every call, SQLite in {db}, serve LOG_LEVEL {args.log_level}"
        )
        figures = run_once(serve, sim, rows, args)
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
