"""The whole app's CPU per alert, in process: the serve app driven over ASGI, no sockets.

    .venv/bin/python bench/app_cpu.py [--root CHECKOUT] [--alerts 8000] [--concurrency 32] [--bare]

Builds the app as `signaldesk serve` does (bot/app.py's build and start, a fresh SQLite file,
one auto-mode paper bot imported with `signaldesk bots import`, as bench/webhook.py) and calls
it as Hypercorn would, `--concurrency` requests at a time, each a unique alert. Prints the
process's CPU per alert (both threads) and the alerts answered per second. Hypercorn, h11 and
the sockets are left out, so two checkouts compared with it differ only in what the app does:
run them alternately, a few times each (bench/webhook.py's closed loop moves by ±10 % from run
to run on a 2-core machine; this one by about ±5 %). With --bare, bench/bare_app.py's app
instead: the framework's own share.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from webhook import BOTS_TOML, KEY  # bench/, beside this script: the same bot as its closed loop


def scope(body: bytes) -> dict[str, Any]:
    path = f"/webhook/{KEY}"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
    }


async def post(app: Any, body: bytes) -> int:
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never hangs up
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope(body), receive, send)
    return status[0]


async def load(app: Any, alerts: int, concurrency: int) -> Counter[int]:
    numbers = itertools.count()
    statuses: Counter[int] = Counter()

    async def client() -> None:
        for _ in range(alerts // concurrency):
            n = next(numbers)
            body = {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": datetime.now(UTC).isoformat()}
            statuses[await post(app, json.dumps(body | {"alert_id": f"a{n}"}).encode())] += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses


async def run(args: argparse.Namespace, root: Path) -> None:
    stop = None
    if args.bare:
        import bare_app  # bench/, beside this script (main put it on sys.path)

        app: Any = bare_app.app
        await app.startup()
    else:
        # The checkout's code: main put its root first on sys.path.
        from bot.app import build, start
        from bot.app import stop as stop_app
        from bot.settings import Settings

        built = build(Settings())
        await start(built)
        app, stop = built.web, stop_app
    gc.freeze()
    await load(app, 20 * args.concurrency, args.concurrency)  # warm-up
    await asyncio.sleep(1)
    wall, cpu = time.perf_counter(), time.process_time()
    statuses = await load(app, args.alerts, args.concurrency)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    answered = sum(statuses.values())
    print(
        f"{'bare app' if args.bare else root}: {answered} alerts, answers {dict(statuses)}: "
        f"{cpu / answered * 1000:.3f} ms of CPU per alert, {answered / wall:.0f} alerts/s"
    )
    if stop is not None:
        await stop(built, grace=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--alerts", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--bare", action="store_true", help="bench/bare_app.py's app instead of signaldesk's")
    args = parser.parse_args()
    root = args.root.resolve()
    folder = Path(tempfile.mkdtemp(prefix="sd-app-cpu-"))
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/signaldesk.db",
            "SIGNALDESK_DATA_DIR": str(folder),
            "LOG_LEVEL": "ERROR",
            # The limits protect production from floods; here the flood is the point.
            "WEBHOOK_RATE_PER_KEY": "0",
            "WEBHOOK_RATE_PER_IP": "0",
            "WEBHOOK_MAX_CONNECTIONS_PER_IP": "0",
        }
    )
    for name in ("DISCORD_TOKEN", "TELEGRAM_BOT_TOKEN", "SIGNALDESK_API_TOKEN", "BOTS_FILE", "DATABASE_URL_FILE"):
        os.environ.pop(name, None)
    if args.bare:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    else:
        (folder / "bots.toml").write_text(BOTS_TOML)
        signaldesk = root / ".venv" / "bin" / "signaldesk"
        subprocess.run([str(signaldesk), "bots", "import", str(folder / "bots.toml")], cwd=folder, check=True)
        sys.path.insert(0, str(root))  # the checkout's code, whichever venv runs this
    os.chdir(folder)
    # serve's own logging is set up by its command line, not by build(): without a handler,
    # each execution's warning (the paper broker has no quote source) would go to stderr.
    logging.basicConfig(level=logging.ERROR)
    uvloop.run(run(args, root))


if __name__ == "__main__":
    main()
