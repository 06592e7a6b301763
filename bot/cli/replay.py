"""`signaldesk replay`: what would this bot have done? Reads the inputs, runs trading.replay,
writes the report. See docs/replay.md.

The simulation and the report are pure (trading/replay/); this module only reads files and
the database and writes the outputs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.settings import Settings
from trading.domain.inputs import InputError
from trading.replay.inputs import AlertRecord

if TYPE_CHECKING:
    from trading.domain.config import BotConfig
    from trading.domain.market import Instrument
    from trading.replay.simulator import ReplayResult


def uplot_dir() -> Path:
    """Where the vendored uPlot lives (web/static/vendor/uplot), inlined into --html pages."""
    import web

    return Path(web.__file__).parent / "static" / "vendor" / "uplot"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="replay recorded alerts against candles: what would this bot have done?",
        description="Recorded alerts through the same engine and risk checks that trade, on candle prices. "
        "See docs/replay.md for the fill rules.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--alerts", metavar="FILE", help="TradingView alert-log CSV export, or JSON lines")
    source.add_argument("--from-db", action="store_true", help="the webhook log in DATABASE_URL")
    p.add_argument(
        "--candles", metavar="FILE", required=True, help="TradingView chart-data CSV (time,open,high,low,close)"
    )
    p.add_argument("--bots", metavar="FILE.toml", help="the bot's settings from a bots file (else from the database)")
    p.add_argument("--bot", metavar="NAME", help="which bot (needed with --from-db, or a bots file of several)")
    p.add_argument("--since", metavar="TIME", help="only alerts at or after TIME (ISO-8601 or Unix seconds)")
    p.add_argument("--until", metavar="TIME", help="only alerts at or before TIME")
    p.add_argument("--set", metavar="FIELD=VALUE", action="append", default=[], help="override a bot setting")
    p.add_argument(
        "--instrument",
        metavar="FIELD=VALUE",
        action="append",
        default=[],
        help="instrument: min_quantity, max_quantity, quantity_step, tick_size, contract_multiplier",
    )
    p.add_argument("--slippage-ticks", type=int, default=0, metavar="N", help="ticks against every market fill")
    p.add_argument(
        "--compare", metavar="FIELD=VALUE", action="append", default=[], help="also run with this change; side by side"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument("--trades", metavar="FILE.csv", help="write the trades as CSV")
    p.add_argument("--html", metavar="FILE", help="write an HTML report (equity curve and trades)")


@dataclass(frozen=True)
class _Inputs:
    config: BotConfig
    instrument: Instrument | None  # as the database cached it, when read from there
    alerts: list[AlertRecord]
    title: str


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from bot.bots_file import BotsFileError

    try:
        return _run(settings, args, out or sys.stdout)
    except (InputError, BotsFileError, OSError, ValueError) as e:
        print(f"signaldesk replay: {e}", file=err or sys.stderr)
        return 2


def _run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from trading.replay.inputs import apply_overrides, instrument_for, parse_assignments, read_candles
    from trading.replay.report import (
        render_comparison,
        render_comparison_json,
        render_html,
        render_json,
        render_table,
        render_trades_csv,
    )
    from trading.replay.simulator import replay

    if args.slippage_ticks < 0:
        raise InputError("--slippage-ticks must not be negative")
    since = _time_arg("--since", args.since)
    until = _time_arg("--until", args.until)
    inputs = asyncio.run(_from_db(settings, args, since, until)) if args.from_db else _from_files(args)
    alerts = [a for a in inputs.alerts if _within(a.time, since, until)]
    candles = read_candles(_read(args.candles), Path(args.candles).name)
    config = apply_overrides(inputs.config, parse_assignments(args.set))
    instrument = instrument_for(config.symbol, parse_assignments(args.instrument, "--instrument"), inputs.instrument)
    base = replay(config, instrument, alerts, candles, slippage_ticks=args.slippage_ticks)
    runs: list[tuple[str, ReplayResult]] = [("as set", base)]
    changes = parse_assignments(args.compare, "--compare")
    if changes:
        variant = apply_overrides(config, changes)
        label = ", ".join(f"{k}={v}" for k, v in changes.items())
        runs.append((label, replay(variant, instrument, alerts, candles, slippage_ticks=args.slippage_ticks)))

    if args.json:
        out.write(render_json(base) if len(runs) == 1 else render_comparison_json(base, runs[1][1], changes))
    elif len(runs) == 1:
        out.write(render_table(base, inputs.title))
    else:
        out.write(render_comparison(base, runs[1][1], changes))
    if args.trades:
        _write(args.trades, render_trades_csv(runs))
    if args.html:
        js = (uplot_dir() / "uPlot.iife.min.js").read_text(encoding="utf-8")
        css = (uplot_dir() / "uPlot.min.css").read_text(encoding="utf-8")
        _write(args.html, render_html(runs, js, css))
    return 0


def _from_files(args: argparse.Namespace) -> _Inputs:
    from bot.bots_file import load_bots_file
    from trading.replay.inputs import read_alerts

    if not args.bots:
        raise InputError("give the bot's settings: --bots FILE.toml (with --bot NAME), or use --from-db")
    config = _pick(load_bots_file(args.bots), args.bot, args.bots)
    path = Path(args.alerts)
    return _Inputs(config, None, read_alerts(_read(args.alerts), path.name), path.name)


async def _from_db(
    settings: Settings, args: argparse.Namespace, since: datetime | None, until: datetime | None
) -> _Inputs:
    from bot.bots_file import load_bots_file
    from db.database import Database

    if not args.bot:
        raise InputError("--from-db needs --bot NAME")
    database = Database(settings.database_url)
    try:
        async with database.uow() as uow:
            bot = await uow.bots.get_by_name(args.bot)
            if bot is None:
                raise InputError(f"no bot named {args.bot!r} in the database")
            rows = await uow.webhook_logs.for_bot(bot.id, since=since, until=until)
            instrument = await uow.instruments.get(bot.config.symbol)
    finally:
        await database.dispose()
    config = _pick(load_bots_file(args.bots), args.bot, args.bots) if args.bots else bot.config
    # A repeat of an alert created nothing live; everything else is replayed (an alert
    # refused as too old is acted on: a replay judges no age).
    alerts = [
        AlertRecord(
            row.received_at,
            row.body.encode("utf-8"),
            f"webhook log, signal #{row.signal_id}" if row.signal_id else f"webhook log, {row.outcome} {row.status}",
        )
        for row in rows
        if row.outcome != "duplicate"
    ]
    return _Inputs(config, instrument, alerts, "webhook log")


def _pick(configs: list[BotConfig], name: str | None, path: str) -> BotConfig:
    if name is None:
        if len(configs) == 1:
            return configs[0]
        names = ", ".join(c.bot_name for c in configs)
        raise InputError(f"{path} has several bots ({names}); choose one with --bot NAME")
    for config in configs:
        if config.bot_name == name:
            return config
    raise InputError(f"{path} has no bot named {name!r}")


def _time_arg(flag: str, value: str | None) -> datetime | None:
    from trading.replay.inputs import parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as e:
        raise InputError(f"{flag}: {e}") from None


def _within(moment: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if moment is None:
        return True
    return (since is None or moment >= since) and (until is None or moment <= until)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text: {e.reason}") from None


def _write(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
