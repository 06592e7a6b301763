"""`signaldesk candles export SYMBOL --from --to`: the one-minute candles the desk stored, as
the CSV `signaldesk replay --candles` reads (time,open,high,low,close)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TextIO

from bot.settings import Settings
from trading.domain.inputs import InputError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    candles = sub.add_parser("candles", help="the one-minute candles of the prices the desk saw")
    candles_sub = candles.add_subparsers(dest="candles_command", required=True)
    export = candles_sub.add_parser(
        "export", help="print a symbol's stored candles as CSV (time,open,high,low,close), as replay --candles reads"
    )
    export.add_argument("symbol", help="the broker's instrument, say SA40")
    export.add_argument(
        "--from", dest="since", required=True, metavar="TIME", help="the first minute: ISO-8601 or Unix seconds (UTC)"
    )
    export.add_argument(
        "--to",
        dest="until",
        required=True,
        metavar="TIME",
        help="up to this time, not included: ISO-8601 or Unix seconds",
    )


async def run(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        since, until = _time("--from", args.since), _time("--to", args.until)
        if until <= since:
            raise InputError(f"--to {until.isoformat()} is not after --from {since.isoformat()}")
        return await _export(settings, args.symbol.strip().upper(), since, until, out, err)
    except (InputError, ValueError) as e:
        print(f"signaldesk candles: {e}", file=err)
        return 2


async def _export(settings: Settings, symbol: str, since: datetime, until: datetime, out: TextIO, err: TextIO) -> int:
    from db.database import Database
    from db.repositories.candles import SqlCandleStore
    from trading.replay.inputs import candles_csv

    database = Database(settings.database_url)
    try:
        await database.upgrade()
        candles = await SqlCandleStore(database).between(symbol, since, until)
    finally:
        await database.dispose()
    out.write(candles_csv(candles))
    if not candles:
        print(f"signaldesk candles: no candles of {symbol} from {since.isoformat()} to {until.isoformat()}", file=err)
    return 0


def _time(flag: str, value: str) -> datetime:
    from trading.replay.inputs import parse_time

    try:
        return parse_time(value)
    except ValueError as e:
        raise InputError(f"{flag}: {e}") from None
