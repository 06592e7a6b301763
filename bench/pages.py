"""How long each web desk page takes to render on the server, with a full database:
10,000 signals (with their state changes, webhook-log rows, orders and fills), 5,000
trades over 90 days, 2,000 audit rows, 10 approvals pending and 5 open positions.

    .venv/bin/python bench/pages.py [--signals 10000] [--trades 5000] [--requests 50] [--postgres URL]

Each page is requested through Quart's test client as a signed-in approver (the real app,
the real Desk and repositories, SQLite in a temporary file unless --postgres is given),
after one warm-up request; it prints p50 and p99 of the server's time per page. The
target is under 100 ms. The broker is the in-memory fake: quotes cost nothing here, so the
figures are the pages' own work (queries and templates).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from db.codec import encode_signal  # noqa: E402
from db.database import Database  # noqa: E402
from db.models import (  # noqa: E402
    ApprovalRow,
    AuditRow,
    FillRow,
    OrderRow,
    SignalRow,
    SignalStateChangeRow,
    WebhookLogRow,
    table_of,
)
from tests.integration.web_support import add_bot, make_deps, make_desk  # noqa: E402
from tests.support.fake_broker import FakeBroker  # noqa: E402
from trading.domain.people import Role  # noqa: E402
from trading.domain.position import Entry, Position  # noqa: E402
from trading.domain.records import TradeRecord  # noqa: E402
from trading.domain.signals import AlertShape, Signal, SignalAction  # noqa: E402
from trading.domain.values import PositionSide  # noqa: E402
from trading.services.people import CLI_ACTOR  # noqa: E402
from web.app import create_app  # noqa: E402

BOTS = 5
PASSWORD = "bench password 0123"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


async def fill(db: Database, signals: int, trades: int) -> list[int]:
    bot_ids = []
    for n in range(BOTS):
        bot = await add_bot(db, bot_name=f"Bench_{n}", symbol="SA40", webhook_key=f"bench_key_{n:04d}", mode="approve")
        bot_ids.append(bot.id)
    now = datetime.now(UTC)
    payload = encode_signal(
        Signal(action=SignalAction.ENTER_LONG, price=Decimal("53210.5"), shape=AlertShape.RSI, alert_id="a")
    )
    body = json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5, "passphrase": "***"})
    async with db.engine.begin() as conn:
        for start in range(0, signals, 2000):
            rows, changes, logs, orders, fills = [], [], [], [], []
            for n in range(start, min(start + 2000, signals)):
                signal_id = n + 1
                at = now - timedelta(days=90) + timedelta(seconds=n * 90 * 86400 / signals)
                bot_id = bot_ids[n % BOTS]
                pending = n >= signals - 10
                state = "pending_approval" if pending else ("executed" if n % 3 else "refused")
                rows.append(
                    {
                        "id": signal_id,
                        "bot_id": bot_id,
                        "action": "enter_long",
                        "price": Decimal("53210.5"),
                        "alert_id": f"alert-{n}",
                        "body_hash": f"{n:064x}",
                        "payload": payload,
                        "state": state,
                        "reason": None if state != "refused" else "max daily loss reached",
                        "edits": None,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                changes.append({"signal_id": signal_id, "state": "received", "at": at, "cause": "webhook"})
                changes.append({"signal_id": signal_id, "state": state, "at": at, "cause": "engine"})
                logs.append(
                    {
                        "received_at": at,
                        "client_ip": "52.89.214.238",
                        "status": 200,
                        "outcome": "accepted",
                        "reason": None,
                        "body": body,
                        "bot_id": bot_id,
                        "signal_id": signal_id,
                    }
                )
                if state == "executed":
                    coid = f"sd-{signal_id}-1"
                    orders.append(
                        {
                            "signal_id": signal_id,
                            "bot_id": bot_id,
                            "client_order_id": coid,
                            "leg_index": 1,
                            "leg_kind": "open",
                            "position_side": "long",
                            "symbol": "SA40",
                            "side": "buy",
                            "quantity": 1,
                            "type": "market",
                            "limit_price": None,
                            "reduce_only": False,
                            "status": "filled",
                            "broker_order_id": f"H-{signal_id}",
                            "filled_quantity": 1,
                            "average_fill_price": Decimal("53211"),
                            "applied_quantity": 1,
                            "applied_cost": Decimal("53211"),
                            "error": None,
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
                    fills.append(
                        {
                            "fill_id": f"fill-{signal_id}",
                            "bot_id": bot_id,
                            "client_order_id": coid,
                            "side": "buy",
                            "quantity": 1,
                            "price": Decimal("53211"),
                            "time": at,
                            "recorded_at": at,
                        }
                    )
            await conn.execute(insert(table_of(SignalRow)), rows)
            await conn.execute(insert(table_of(SignalStateChangeRow)), changes)
            await conn.execute(insert(table_of(WebhookLogRow)), logs)
            if orders:
                await conn.execute(insert(table_of(OrderRow)), orders)
                await conn.execute(insert(table_of(FillRow)), fills)
        await conn.execute(
            insert(table_of(ApprovalRow)),
            [
                {"signal_id": s, "requested_at": now, "expires_at": now + timedelta(hours=1)}
                for s in range(signals - 9, signals + 1)
            ],
        )
        await conn.execute(
            insert(table_of(AuditRow)),
            [
                {
                    "at": now - timedelta(minutes=n),
                    "actor": "web:bench",
                    "action": "approve",
                    "target": f"signal:{n + 1}",
                    "allowed": True,
                    "detail": "",
                }
                for n in range(2000)
            ],
        )
    async with db.uow() as uow:
        for n in range(trades):
            bot_id = bot_ids[n % BOTS]
            await uow.trades.add(
                TradeRecord(
                    bot_id=bot_id,
                    bot_name=f"Bench_{n % BOTS}",
                    symbol="SA40",
                    side=PositionSide.LONG,
                    quantity=1,
                    entry_price=Decimal("53211"),
                    exit_price=Decimal("53220"),
                    realized_pnl=Decimal(n % 7 - 3),
                    opened_at=None,
                    closed_at=now - timedelta(days=90) + timedelta(seconds=n * 90 * 86400 / trades),
                    position_closed=True,
                )
            )
        for bot_id in bot_ids:
            position = Position("SA40", multiplier=Decimal(1))
            position.side = PositionSide.LONG
            position.entries = [Entry(fill_id=f"open-{bot_id}", quantity=2, price=Decimal("53200"), time=now)]
            position.average_price = Decimal("53200")
            await uow.positions.save(bot_id, position)
        await uow.commit()
    return bot_ids


async def run(url: str, signals: int, trades: int, requests: int) -> dict[str, tuple[float, float]]:
    db = Database(url)
    try:
        await db.upgrade()
        started = time.perf_counter()
        await fill(db, signals, trades)
        print(f"filled the database in {time.perf_counter() - started:.1f} s", flush=True)
        deps = make_deps(db, desk=make_desk(db, FakeBroker()))
        assert deps.people is not None
        await deps.people.add("bench", Role.APPROVER, PASSWORD, CLI_ACTOR)
        client = create_app(deps).test_client()
        page = await client.get("/login")
        token = CSRF.search((await page.get_data()).decode())
        assert token is not None
        form = {"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
        signed_in = await client.post("/login", form=form)
        assert signed_in.status_code == 303, await signed_in.get_data()
        paths = [
            "/",
            "/approvals",
            "/positions",
            "/signals",
            "/signals?bot=Bench_3&state=executed",
            f"/signals?before={signals // 2}",
            f"/signals/{signals // 2 + 1}",
            "/trades",
            "/audit",
            "/webhooks",
            "/webhooks?bot=Bench_2&status=200&since=2020-01-01",
        ]
        results: dict[str, tuple[float, float]] = {}
        for path in paths:
            times = []
            for n in range(requests + 1):
                t0 = time.perf_counter()
                response = await client.get(path)
                await response.get_data()
                took = (time.perf_counter() - t0) * 1000
                assert response.status_code == 200, (path, response.status_code)
                if n:  # the first is a warm-up (template compilation, statement caches)
                    times.append(took)
            times.sort()
            p50 = statistics.median(times)
            p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
            results[path] = (p50, p99)
            print(f"{path:45s} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms", flush=True)
        return results
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--postgres", help="a PostgreSQL URL (postgresql+asyncpg://...) instead of SQLite")
    parser.add_argument("--target-ms", type=float, default=100.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite+aiosqlite:///{Path(tmp) / 'pages.db'}"
        kind = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{kind}: {args.signals} signals, {args.trades} trades, {args.requests} requests per page")
        results = asyncio.run(run(url, args.signals, args.trades, args.requests))
    slow = [path for path, (_, p99) in results.items() if p99 >= args.target_ms]
    print(f"every page under {args.target_ms:g} ms at p99" if not slow else f"over {args.target_ms:g} ms: {slow}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
