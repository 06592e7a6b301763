"""The ceiling for bench/webhook.py: a bare Quart app on Hypercorn that only parses the JSON.

    .venv/bin/python bench/bare_app.py --port 8901 [--host 127.0.0.1] [--loop uvloop]

`POST /webhook/<key>` reads the body, parses it as JSON and answers {"status": "accepted"};
nothing is stored, checked or executed. It runs in its own process on the same kind of event
loop and with the same Hypercorn settings as `signaldesk serve` (bot/serve.py), so that what
bench/webhook.py measures against it is what the framework and the server alone cost on this
machine: signaldesk's closed-loop figure divided by this one is the share of the ceiling that
signaldesk reaches. `GET /health` answers for the benchmark's readiness check.

It imports nothing of signaldesk, so it is the same app whichever checkout is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, request

app = Quart(__name__)


@app.post("/webhook/<key>")
async def webhook(key: str) -> tuple[dict[str, Any], int]:
    body = await request.get_data()
    try:
        json.loads(body)
    except ValueError:
        return {"status": "refused", "reason": "not JSON"}, 400
    return {"status": "accepted"}, 200


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def config(host: str, port: int) -> Config:
    # The settings bot/serve.py gives Hypercorn (copied, not imported, so the ceiling does not
    # depend on the checkout): no access log, the same timeouts and header limit.
    c = Config()
    c.bind = [f"{host}:{port}"]
    c.accesslog = None
    c.graceful_timeout = 5.0
    c.read_timeout = 30
    c.keep_alive_timeout = 5.0
    c.h11_max_incomplete_size = 8 * 1024
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="as signaldesk serve's default")
    args = parser.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:  # as bot/event_loop.py: asyncio's own loop where uvloop is missing
            pass
        else:
            uvloop.run(serve(app, config(args.host, args.port)))  # type: ignore[arg-type]
            return 0
    asyncio.run(serve(app, config(args.host, args.port)))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
