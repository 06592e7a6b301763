"""Signal-to-order-sent latency of the real process in auto mode, against the Herenya
simulator with no faults and no added latency (issue 6 item 8; target: p99 <= 15 ms).

    .venv/bin/python bench/pipeline.py [--root CHECKOUT] [--rates 50 200] [--seconds 5] [--bots 20]
                                       [--log-level INFO] [--json FILE]

Starts the simulator and `signaldesk serve` as subprocesses on loopback (tests/e2e/procs.py),
imports --bots auto-mode bots (one instrument each, so no bot's close meets another's
position), warms each bot up with one round trip, then POSTs alerts at a fixed rate,
spread round-robin over the bots, alternating entry and close per bot so that every
alert makes exactly one order when alerts are handled in the order they were sent (under
overload concurrent POSTs can be stored out of order; those alerts end ignored, have no
order and are counted apart).

Two figures per alert, all on this host's clock:
- webhook->order: from just before the POST leaves this script to the order's
  `created_at` in the simulator's book (ms resolution) — what a sender sees;
- received->order: from the `received` entry of the signal's state history (stamped by
  signaldesk when the request reached the webhook) to the same `created_at` — signaldesk's
  own time, which still includes the simulator's answers to the quote look-up (loopback,
  no added latency) that the slippage check needs before an entry is sent.
Also the webhook's answer time (POST -> 200) as the sender sees it, and serve's CPU time
per executed signal: everything serve did from the first alert until the last signal was
final (the webhook's HTTP side, execution, and the broker's HTTP side), divided by the
signals executed. The run ends with those two figures per rate (issue 22 asks for them at
20 signals/s: `--rates 20`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from checkout import add_root_argument, checkout_processes, describe  # noqa: E402  (bench/)
from proc_stats import cpu_seconds  # noqa: E402  (bench/, beside this script)

from tests.e2e.procs import Processes, Serve, Simulator, now_iso, sim_config, wait_until  # noqa: E402

TARGET_P99_MS = 15.0
FINAL = {"executed", "refused", "ignored", "failed"}
UNFINISHED = ("received", "pending_approval", "approved", "queued", "executing")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def symbols(n: int) -> dict[str, str]:
    return {f"B{i:02d}X": str(Decimal(10000 + 100 * i) + Decimal("0.5")) for i in range(n)}


def bots(n: int) -> list[dict[str, Any]]:
    return [
        {
            "bot_name": f"Bench{i:02d}",
            "symbol": symbol,
            "broker_account": "Herenya",
            "mode": "auto",
            "base_position_size": 1,
            "max_positions": 1,
            "webhook_key": f"bench_bot_key_{i:02d}",
            "max_slippage_pct": "0.5",
        }
        for i, symbol in enumerate(symbols(n))
    ]


class Driver:
    def __init__(self, serve: Serve, sim: Simulator, bot_rows: list[dict[str, Any]]) -> None:
        self.serve = serve
        self.sim = sim
        self.bots = bot_rows
        self.prices = symbols(len(bot_rows))
        self.open: dict[str, bool] = {b["bot_name"]: False for b in bot_rows}
        self.sent = 0

    def next_alert(self, bot: dict[str, Any]) -> dict[str, Any]:
        action = "RSI_CLOSE_LONG" if self.open[bot["bot_name"]] else "RSI_LONG_ENTRY"
        self.open[bot["bot_name"]] = not self.open[bot["bot_name"]]
        self.sent += 1
        return {"action": action, "price": self.prices[bot["symbol"]], "time": now_iso(), "id": f"bench-{self.sent}"}

    async def run(self, rate: float, count: int) -> list[tuple[int, float, float]]:
        """POST `count` alerts at `rate`/s; (signal id, POST start ms, answer ms) for each."""
        out: list[tuple[int, float, float]] = []
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=self.serve.base_url, timeout=10.0, limits=limits) as client:

            async def send(bot: dict[str, Any]) -> None:
                body = self.next_alert(bot)
                started = time.time() * 1000
                answer = await client.post(f"/webhook/{bot['webhook_key']}", json=body)
                answered = time.time() * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text}")
                out.append((answer.json()["signal_id"], started, answered - started))

            # Warm the connection pool so connection set-up is not counted.
            await asyncio.gather(*(client.get("/health") for _ in range(min(count, 50))))
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            tasks = []
            for n in range(count):
                delay = t0 + n / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(self.bots[n % len(self.bots)])))
            await asyncio.gather(*tasks)
        return out

    def wait_settled(self, timeout: float) -> None:
        """Until no signal is left unfinished. The poll asks for one row per unfinished
        state, so it loads serve as little as it can."""

        def settled() -> bool | None:
            return None if any(self.serve.signals(state=state, limit=1) for state in UNFINISHED) else True

        wait_until(settled, timeout, "the signals to finish", interval=0.25)

    def wait_final(self, ids: set[int], timeout: float) -> dict[int, dict[str, Any]]:
        """Each signal, once every one is final."""
        self.wait_settled(timeout)
        found = {sid: self.serve.api("GET", f"/signals/{sid}").raise_for_status().json() for sid in sorted(ids)}
        left = {sid: s["state"] for sid, s in found.items() if s["state"] not in FINAL}
        if left:
            raise RuntimeError(f"signals not final: {left}")
        return found


def measure(driver: Driver, rate: float, seconds: float) -> dict[str, Any]:
    count = int(rate * seconds)
    pid = driver.serve.process.popen.pid
    cpu_before = cpu_seconds(pid)
    sent = asyncio.run(driver.run(rate, count))
    driver.wait_settled(60.0 + count / 2)  # bounded, even far over capacity
    cpu = cpu_seconds(pid) - cpu_before  # with the few completion polls, but not the read-back below
    signals = driver.wait_final({sid for sid, _, _ in sent}, 10.0)
    states = {s["state"] for s in signals.values()}
    book = {o["client_order_id"]: o for o in driver.sim.book()}
    end_to_end: list[float] = []
    own: list[float] = []
    answers: list[float] = []
    missing: list[tuple[int, str, str | None]] = []
    for sid, started, answered in sent:
        order = book.get(f"sd-{sid}-1")
        if order is None or signals[sid]["state"] != "executed":
            missing.append((sid, signals[sid]["state"], signals[sid]["reason"]))
            continue
        received = next(h for h in signals[sid]["history"] if h["state"] == "received")
        end_to_end.append(order["created_at"] - started)
        own.append(order["created_at"] - epoch_ms(received["at"]))
        answers.append(answered)
    executed = count - len(missing)
    return {
        "rate": rate,
        "count": count,
        "states": states,
        "missing": missing,
        "e2e": end_to_end,
        "own": own,
        "answers": answers,
        # Per executed signal: an alert that ended without an order costs serve less, and
        # counting it would flatter the figure.
        "cpu_ms_per_signal": cpu * 1000 / max(executed, 1),
        "executed": executed,
    }


def report(r: dict[str, Any]) -> str:
    def line(name: str, xs: list[float]) -> str:
        return (
            f"    {name:<17} p50 {percentile(xs, 0.5):6.1f} ms  p90 {percentile(xs, 0.9):6.1f} ms  "
            f"p99 {percentile(xs, 0.99):6.1f} ms  max {max(xs):6.1f} ms  mean {statistics.fmean(xs):6.1f} ms"
        )

    own_p99 = percentile(r["own"], 0.99)
    verdict = "meets" if own_p99 <= TARGET_P99_MS else "MISSES"
    lines = [
        f"  {r['rate']:g} signals/s: {r['count']} alerts, {len(r['e2e'])} orders measured, "
        f"{len(r['missing'])} without an order (states {dict(Counter(m[1] for m in r['missing']))})",
        line("webhook->order", r["e2e"]),
        line("received->order", r["own"]),
        line("webhook answer", r["answers"]),
        f"    serve's CPU time per executed signal (intake, execution, HTTP both ways): "
        f"{r['cpu_ms_per_signal']:.2f} ms",
        f"    signaldesk's own p99 {own_p99:.1f} ms {verdict} the {TARGET_P99_MS:g} ms target",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_root_argument(parser)
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--log-level", default="INFO", help="serve's LOG_LEVEL (INFO is the default in production)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in the work directory")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file (compare.py)")
    parser.add_argument(
        "--workdir", default=None, help="keep the processes' logs and database here (default: a temp dir)"
    )
    args = parser.parse_args()

    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        with checkout_processes(Path(args.workdir), args.root) as procs:
            return run(procs, Path(args.workdir), args)
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp, checkout_processes(Path(tmp), args.root) as procs:
        return run(procs, Path(tmp), args)


def run(procs: Processes, tmp: Path, args: argparse.Namespace) -> int:
    rows = bots(args.bots)
    sim = procs.simulator(config=sim_config(tmp / "sim.toml", symbols=symbols(args.bots)))
    for symbol, price in symbols(args.bots).items():
        p = Decimal(price)
        sim.set_quote(symbol, str(p - Decimal("0.5")), str(p + Decimal("0.5")))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'signaldesk.db'}"
    env = procs.serve_env(url, sim, LOG_LEVEL=args.log_level, MONITOR_INTERVAL_SECONDS="5")
    procs.import_bots(env, rows)
    serve = procs.serve(env)
    driver = Driver(serve, sim, rows)
    warm = asyncio.run(driver.run(20.0, len(rows)))  # instruments cached, one round trip per bot
    driver.wait_final({sid for sid, _, _ in warm}, 30.0)
    print(f"serve from {describe(args.root)}")
    print(
        f"signaldesk pipeline bench: {args.bots} auto-mode bots, simulator without faults or added latency, "
        f"database {url.split(':', 1)[0]}, serve LOG_LEVEL {args.log_level}"
    )
    worst = 0.0
    results = []
    for rate in args.rates:
        result = measure(driver, rate, args.seconds)
        results.append(result)
        print(report(result), flush=True)
        worst = max(worst, percentile(result["own"], 0.99))
    print(f"target: p99 of signaldesk's own time <= {TARGET_P99_MS:g} ms; worst p99 measured {worst:.1f} ms")
    # The two figures issue 22 asks for, per rate, on lines of their own.
    for r in results:
        print(f"\nat {r['rate']:g} signals/s ({r['executed']} of {r['count']} signals executed):")
        print(f"  received -> order p99:                             {percentile(r['own'], 0.99):7.1f} ms")
        print(f"  serve's CPU per executed signal (both HTTP sides): {r['cpu_ms_per_signal']:7.2f} ms")
    if args.json is not None:
        figures = {
            f"{r['rate']:g}": {
                "signals": r["count"],
                "executed": r["executed"],
                "received_to_order_p99_ms": percentile(r["own"], 0.99),
                "received_to_order_p50_ms": percentile(r["own"], 0.5),
                "cpu_ms_per_executed_signal": r["cpu_ms_per_signal"],
            }
            for r in results
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
