"""Benchmark: orders through the Herenya client against the simulator on loopback.

The simulator runs in its own process (`signaldesk herenya-sim --port 0`) so the client's
figures are not mixed with the server's CPU. Prints orders/s, p50/p99 place-order latency
(one at a time, then concurrently), and the client's own time per order: encoding the
body, building and signing the request, parsing the answer (target: under 1 ms at p50).

    .venv/bin/python bench/broker.py [--orders 1000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brokers.herenya import wire  # noqa: E402
from brokers.herenya.client import HerenyaClient  # noqa: E402
from trading.domain.market import OrderRequest  # noqa: E402
from trading.domain.values import OrderSide  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "herenya-sim", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, LOG_LEVEL="WARNING"),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("herenya-sim listening on "):
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, line.split()[-1]


def request(n: int, tag: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"bench-{tag}-{n}", symbol="SA40", side=OrderSide.BUY if n % 2 else OrderSide.SELL, quantity=1
    )


async def run_phase(client: HerenyaClient, orders: int, concurrency: int, tag: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            await client.place_order(request(n, tag))
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(orders)))
    return time.perf_counter() - t0, latencies


def client_own_time(client: HerenyaClient, answer: bytes, samples: int) -> list[float]:
    """What the client does per order besides waiting for the network, timed alone."""
    out = []
    for n in range(samples):
        t0 = time.perf_counter()
        body = wire.encode_order(request(n, "own"))
        client._signed_request("POST", "/v1/accounts/A1/orders", None, body)  # what every real call builds
        wire.parse_order(json.loads(answer))
        out.append(time.perf_counter() - t0)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    proc, base_url = start_simulator()
    try:
        client = HerenyaClient(
            api_key="test-key",
            api_secret="test-secret",
            base_url=base_url,
            account_id="A1",
            timeout=10,
            retry_attempts=3,
        )
        try:
            await run_phase(client, 50, 1, "warm")
            cpu0 = time.process_time()
            seq_time, seq_lat = await run_phase(client, args.orders, 1, "seq")
            seq_cpu = time.process_time() - cpu0
            par_time, par_lat = await run_phase(client, args.orders, args.concurrency, "par")
            sample = await client.find_order("bench-seq-1")
            assert sample is not None
            answer = json.dumps(
                {
                    "order_id": sample.order_id,
                    "client_order_id": sample.client_order_id,
                    "symbol": "SA40",
                    "side": "BUY",
                    "type": "MARKET",
                    "quantity": 1,
                    "limit_price": None,
                    "time_in_force": "IOC",
                    "reduce_only": False,
                    "status": "FILLED",
                    "filled_quantity": 1,
                    "average_fill_price": "53211.0",
                    "reject_reason": None,
                    "created_at": 1700000000000,
                    "updated_at": 1700000000004,
                }
            ).encode()
            own = client_own_time(client, answer, 5000)
            stats = client.stats
        finally:
            await client.aclose()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    ms = 1000
    print(f"broker bench: Herenya client -> simulator (separate process) on loopback, {os.cpu_count()} cores")
    print(
        f"  one at a time : {args.orders} orders in {seq_time:.2f} s = {args.orders / seq_time:.0f} orders/s;"
        f" place-order latency p50 {pct(seq_lat, 50) * ms:.2f} ms, p99 {pct(seq_lat, 99) * ms:.2f} ms"
    )
    print(
        f"  {args.concurrency} at a time : {args.orders} orders in {par_time:.2f} s = {args.orders / par_time:.0f} orders/s;"
        f" place-order latency p50 {pct(par_lat, 50) * ms:.2f} ms, p99 {pct(par_lat, 99) * ms:.2f} ms"
    )
    print(
        f"  this process's CPU per order, one at a time (all of httpx and the client): {seq_cpu / args.orders * ms:.3f} ms"
    )
    print(
        f"  client's own time per order (encode + build + sign + parse): p50 {pct(own, 50) * ms:.3f} ms,"
        f" p99 {pct(own, 99) * ms:.3f} ms, mean {statistics.fmean(own) * ms:.3f} ms (target < 1 ms at p50)"
    )
    print(f"  requests {stats.requests}, retries {stats.retries}, look-ups {stats.lookups}")


if __name__ == "__main__":
    asyncio.run(main())
