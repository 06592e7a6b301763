"""History costs nothing: CPU per executed signal against an empty database and against
one holding 100,000 trades (all closed today) and 100,000 signals (issue 14).

    .venv/bin/python bench/history.py [--root CHECKOUT] [--rate 50] [--seconds 5] [--bots 20]
                                      [--trades 100000] [--signals 100000] [--json FILE]

The bench bots have `max_daily_loss` set, so every entry reads the day's realized P&L.
Runs bench/pipeline.py's driver against `signaldesk serve` and the Herenya simulator:
once on the empty database, then serve is stopped, the history is written straight into
its database, serve is started again on it, and the same load is measured again. CPU is
serve's, from the first alert until every signal is final, per executed signal.

With --root, serve (and its schema) is that checkout's: the history is written with this
checkout's table definitions, but only into the tables and columns that checkout's database
has (an older schema lacks the daily totals, which it does not need then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Table, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from checkout import add_root_argument, checkout_processes, describe  # noqa: E402  (bench/)
from pipeline import Driver, bots, measure, symbols  # noqa: E402  (bench/, beside this script)

from db.codec import encode_signal  # noqa: E402
from db.database import Database  # noqa: E402
from db.models import BotRow, RealizedByDayRow, SignalRow, SignalStateChangeRow, TradeRow  # noqa: E402
from db.types import split_exact  # noqa: E402
from tests.e2e.procs import Processes, sim_config  # noqa: E402
from trading.domain.signals import AlertShape, Signal, SignalAction  # noqa: E402

_CHUNK = 5000


async def as_stored(conn: AsyncConnection, model: Table) -> Table | None:
    """`model` cut down to the columns its table has in this database (None: no such table),
    so that another checkout's older schema takes the same history; the types stay this
    checkout's (how a decimal or a time is written has not changed since c8c7548)."""

    def columns(sync_conn: Any) -> set[str] | None:
        reflected = MetaData()
        try:
            reflected.reflect(sync_conn, only=[model.name])
        except Exception:  # InvalidRequestError: the table is not there
            return None
        return {c.name for c in reflected.tables[model.name].columns}

    names = await conn.run_sync(columns)
    if names is None:
        return None
    kept = [Column(c.name, c.type, primary_key=c.primary_key) for c in model.columns if c.name in names]
    return Table(model.name, MetaData(), *kept)


def only(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k in table.c} for row in rows]


async def store_history(url: str, trades: int, signals: int) -> None:
    """Executed signals of the past week and trades closed since midnight, spread over the bots."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            signal_rows = await as_stored(conn, SignalRow.__table__)
            changes = await as_stored(conn, SignalStateChangeRow.__table__)
            trade_rows = await as_stored(conn, TradeRow.__table__)
            daily = await as_stored(conn, RealizedByDayRow.__table__)
            if signal_rows is None or changes is None or trade_rows is None:
                raise SystemExit("the database has no signals, signal_state_changes or trade_history table")
            bot_ids = list((await conn.execute(select(BotRow.__table__.c.id))).scalars())
            now = datetime.now(UTC)
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            today = max((now - midnight).total_seconds() - 60, 1.0)
            payload = encode_signal(Signal(action=SignalAction.ENTER_LONG, price=Decimal(1), shape=AlertShape.RSI))
            for start in range(0, signals, _CHUNK):
                rows = []
                for n in range(start, min(start + _CHUNK, signals)):
                    at = now - timedelta(days=7) + timedelta(seconds=n * 6 * 86400 / signals)
                    rows.append(
                        {
                            "bot_id": bot_ids[n % len(bot_ids)],
                            "action": SignalAction.ENTER_LONG.value,
                            "price": Decimal(1),
                            "alert_id": f"history-{n}",
                            "body_hash": f"history-{n}",
                            "payload": payload,
                            "state": "executed",
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
                await conn.execute(insert(signal_rows), only(signal_rows, rows))
            await conn.execute(
                insert(changes).from_select(
                    ["signal_id", "state", "at", "cause"],
                    select(signal_rows.c.id, signal_rows.c.state, signal_rows.c.updated_at, literal("history")),
                )
            )
            whole, frac = split_exact(Decimal("0.01"))
            for start in range(0, trades, _CHUNK):
                rows = [
                    {
                        "bot_id": bot_ids[n % len(bot_ids)],
                        "bot_name": "history",
                        "symbol": "HIST",
                        "side": "long",
                        "quantity": 1,
                        "entry_price": Decimal(1),
                        "exit_price": Decimal("1.01"),
                        "realized_pnl": Decimal("0.01"),
                        "realized_whole": whole,
                        "realized_frac": frac,
                        "opened_at": None,
                        "closed_at": midnight + timedelta(seconds=n * today / trades),
                        "position_closed": True,
                        "signal_id": None,
                        "client_order_id": f"history-{n}",
                    }
                    for n in range(start, min(start + _CHUNK, trades))
                ]
                await conn.execute(insert(trade_rows), only(trade_rows, rows))
            # The daily totals the trades repository keeps beside them (where it keeps them).
            per_bot = [range(i, trades, len(bot_ids)) for i in range(len(bot_ids))]
            if daily is None:
                return
            # The warm-up and the empty run's closes have already made today's row for each
            # bot: those rows get the history added, the other bots a row of their own.
            totals = {b: (whole * len(ns), frac * len(ns)) for b, ns in zip(bot_ids, per_bot, strict=True) if ns}
            existing = set((await conn.execute(select(daily.c.bot_id).where(daily.c.day == midnight))).scalars())
            for bot_id in existing & set(totals):
                add_whole, add_frac = totals[bot_id]
                await conn.execute(
                    update(daily)
                    .where(daily.c.bot_id == bot_id, daily.c.day == midnight)
                    .values(
                        realized_whole=daily.c.realized_whole + add_whole,
                        realized_frac=daily.c.realized_frac + add_frac,
                    )
                )
            fresh = [
                {"bot_id": b, "day": midnight, "realized_whole": w, "realized_frac": f}
                for b, (w, f) in totals.items()
                if b not in existing
            ]
            if fresh:
                await conn.execute(insert(daily), fresh)
    finally:
        await db.dispose()


def timed(driver: Driver, rate: float, seconds: float) -> dict[str, Any]:
    started = time.monotonic()
    result = measure(driver, rate, seconds)
    result["executed_per_s"] = (result["count"] - len(result["missing"])) / (time.monotonic() - started)
    return result


def line(name: str, r: dict[str, Any]) -> str:
    return (
        f"  {name:<34} {r['count']} alerts at {r['rate']:g}/s, {len(r['missing'])} without an order; "
        f"executed {r['executed_per_s']:6.1f} signals/s (incl. settling), CPU {r['cpu_ms_per_signal']:.2f} ms/signal"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_root_argument(parser)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--signals", type=int, default=100_000)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file (compare.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp, checkout_processes(Path(tmp), args.root) as procs:
        return run(procs, Path(tmp), args)


def run(procs: Processes, tmp: Path, args: argparse.Namespace) -> int:
    rows = [{**row, "max_daily_loss": 1_000_000} for row in bots(args.bots)]
    sim = procs.simulator(config=sim_config(tmp / "sim.toml", symbols=symbols(args.bots)))
    for symbol, price in symbols(args.bots).items():
        p = Decimal(price)
        sim.set_quote(symbol, str(p - Decimal("0.5")), str(p + Decimal("0.5")))
    url = f"sqlite+aiosqlite:///{tmp / 'signaldesk.db'}"
    env = procs.serve_env(url, sim, LOG_LEVEL=args.log_level, MONITOR_INTERVAL_SECONDS="5")
    procs.import_bots(env, rows)
    print(f"serve from {describe(args.root)}")
    print(f"signaldesk history bench: {args.bots} auto-mode bots with max_daily_loss, SQLite, simulator without faults")

    serve = procs.serve(env)
    driver = Driver(serve, sim, rows)
    warm = asyncio.run(driver.run(20.0, len(rows)))
    driver.wait_final({sid for sid, _, _ in warm}, 30.0)
    empty = timed(driver, args.rate, args.seconds)
    print(line("empty database:", empty), flush=True)
    serve.process.terminate()

    started = time.monotonic()
    asyncio.run(store_history(url, args.trades, args.signals))
    print(f"  stored {args.trades} trades (today) and {args.signals} signals in {time.monotonic() - started:.1f} s")

    driver.serve = procs.serve(env)
    warm = asyncio.run(driver.run(20.0, len(rows)))
    driver.wait_final({sid for sid, _, _ in warm}, 30.0)
    full = timed(driver, args.rate, args.seconds)
    print(line(f"{args.trades // 1000}k trades + {args.signals // 1000}k signals:", full), flush=True)
    change = (full["cpu_ms_per_signal"] / empty["cpu_ms_per_signal"] - 1) * 100
    verdict = "meets" if change <= 10 else "MISSES"
    print(f"  CPU per executed signal {change:+.1f}% against the empty database: {verdict} the +10% floor")
    if args.json is not None:
        figures = {
            "cpu_ms_empty": empty["cpu_ms_per_signal"],
            "cpu_ms_full": full["cpu_ms_per_signal"],
            "change_pct": change,
            "trades": args.trades,
            "signals": args.signals,
            "without_order": [len(empty["missing"]), len(full["missing"])],
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
