"""The intake alone, without HTTP: CPU per alert of `Intake.receive` by batch size.

    .venv/bin/python bench/intake.py [--batches 4 8 16 32] [--rounds 200] [--profile]

On a migrated SQLite file in a temporary folder, six auto-mode bots (no passphrase), the
intake as serve builds it (its group commit, dedupe, signals, their history and the webhook
log in one transaction per batch). Each round sends a batch's worth of unique alerts at once
and waits for their answers, so every batch holds exactly that many. Warmed up first; the
collector frozen afterwards, as serve does, and run on serve's event loop (uvloop). Prints
the process's CPU per alert (both threads: the event loop's and SQLite's; the loop's own
share beside it) for each batch size, and the per-batch and per-alert parts of a
straight-line fit (CPU per alert = per alert + per batch / size).
--profile prints cProfile's top entries (by own time) for the largest batch size.

The closed-loop webhook bench (bench/webhook.py) answers with the intake and the HTTP side
together; this one says how much of an alert's CPU is the intake's, and what batching buys.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import event_loop  # noqa: E402
from db.database import Database  # noqa: E402
from tests.support.passphrases import TEST_PASSPHRASES  # noqa: E402
from trading.domain.config import BotConfig  # noqa: E402
from trading.services.intake import ACCEPTED, AlertRequest, Intake  # noqa: E402
from web.errors import status_for  # noqa: E402

BOTS = 6


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def key_of(n: int) -> str:
    return f"bench{n}_key_0123456789"


async def run(batches: list[int], rounds: int, profile: bool) -> None:
    folder = tempfile.mkdtemp(prefix="sd-intake-")
    db = Database(f"sqlite+aiosqlite:///{folder}/intake.db")
    await db.upgrade()
    async with db.uow() as uow:
        for n in range(BOTS):
            config = BotConfig.parse({"bot_name": f"B{n}", "symbol": f"S{n}", "webhook_key": key_of(n), "mode": "auto"})
            await uow.bots.upsert(config)
        await uow.commit()
    intake = Intake(db.uow, _Clock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    sent = 0

    async def batch(size: int) -> None:
        nonlocal sent
        requests = []
        for _ in range(size):
            sent += 1
            now = datetime.now(UTC)
            body = {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": now.isoformat(), "alert_id": f"a{sent}"}
            raw = json.dumps(body).encode()
            requests.append(AlertRequest(key_of(sent % BOTS), raw, "application/json", "203.0.113.9", now))
        results = await asyncio.gather(*(intake.receive(r) for r in requests))
        refused = [r for r in results if r.outcome != ACCEPTED]
        if refused:
            raise SystemExit(f"an alert was not accepted: {refused[0]}")

    try:
        for _ in range(20):
            await batch(32)
        gc.collect()
        gc.freeze()
        measured: dict[int, float] = {}
        for size in batches:
            started, loop_thread = time.process_time(), time.thread_time()
            for _ in range(rounds):
                await batch(size)
            measured[size] = (time.process_time() - started) / (rounds * size) * 1000
            on_loop = (time.thread_time() - loop_thread) / (rounds * size) * 1000
            print(
                f"  batches of {size:3d}: {measured[size]:.3f} ms of CPU per alert ({rounds * size} alerts), "
                f"{on_loop:.3f} of it on the event loop's thread"
            )
        if len(measured) >= 2:
            xs = [1 / s for s in measured]
            ys = list(measured.values())
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
            print(f"  fit: {my - slope * mx:.3f} ms per alert + {slope:.2f} ms per batch")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(rounds):
                await batch(max(batches))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    finally:
        await intake.aclose()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    # The bench's own key, as serve would have one (passphrases are hashed with it).
    os.environ.setdefault("SIGNALDESK_SECRET_KEY", "bench-secret-key-bench-secret-key-0123456789")
    print(f"signaldesk intake bench: {BOTS} bots, SQLite, batches of {', '.join(map(str, args.batches))}")
    # serve's own loop (bot/event_loop.py's default), so the figures are serve's.
    event_loop.run(run(args.batches, args.rounds, args.profile), "uvloop")


if __name__ == "__main__":
    main()
