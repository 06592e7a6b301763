"""`signaldesk edge [--bot NAME] [--days D] [--json]`: the decision ledger (docs/ledger.md):
what the desk's decisions made against what each bot alone would have."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot.settings import Settings
from trading.domain import display
from trading.services.ledger import MAX_DAYS, EdgeReport, figures


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edge = sub.add_parser("edge", help="the decision ledger: the desk's P&L against each bot alone's")
    edge.add_argument("--bot", metavar="NAME", help="only this bot (default: every bot with decisions)")
    edge.add_argument("--days", type=int, default=30, metavar="D", help="the last D days (default: %(default)s)")
    edge.add_argument("--json", action="store_true", help="the answer of GET /api/edge on stdout")


async def run(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    from bot.broker_registry import BrokerRegistry
    from db.database import Database
    from db.repositories.candles import SqlCandleStore
    from trading.services.candles import CandleGaps
    from trading.services.clock import SystemClock
    from trading.services.ledger import Ledger, UnknownBot

    out = out or sys.stdout
    err = err or sys.stderr
    if not 1 <= args.days <= MAX_DAYS:
        print(f"signaldesk edge: --days must be from 1 to {MAX_DAYS}, not {args.days}", file=err)
        return 2
    database = Database(settings.database_url)
    brokers = BrokerRegistry(settings, database)
    try:
        await database.upgrade()
        await brokers.load()
        store, clock = SqlCandleStore(database), SystemClock()
        # The exchanges' candles for the gaps, as the process's ledger reads them (docs/ledger.md).
        gaps = CandleGaps(store, brokers, clock, settings.candle_retention_days)
        report = await Ledger(database.uow, store, clock, gaps).edge(args.bot, args.days)
    except UnknownBot as e:
        print(f"signaldesk edge: {e}", file=err)
        return 2
    finally:
        await brokers.aclose()
        await database.dispose()
    if args.json:
        from web.schemas.edge import ApproverEdgeOut, BotEdgeOut, EdgeOut

        answer = EdgeOut(
            bots=[BotEdgeOut.of(b.ledger) for b in report.bots],
            approvers=[ApproverEdgeOut.of(a) for a in report.approvers],
        )
        print(answer.model_dump_json(indent=2), file=out)
        return 0
    _print(report, out)
    return 0


def _print(report: EdgeReport, out: TextIO) -> None:
    span = f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    if not report.bots:
        print(f"No decisions from {span}.", file=out)
        return
    print(f"Decision ledger, {span} (docs/ledger.md says how it is computed)", file=out)
    for bot in report.bots:
        print(f"\n{bot.ledger.bot}", file=out)
        rows = figures(bot)
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"  {label.ljust(width)}  {value}", file=out)
    if report.approvers:
        print("\nApprovers", file=out)
        for a in report.approvers:
            d = a.decisions
            wait = a.median_seconds_to_decide
            print(
                f"  {a.approver}: {d['approved']} approved, {d['edited']} edited, {d['rejected']} rejected;"
                f" median {'-' if wait is None else f'{wait:.0f} s'}; rejections {display.money(a.rejections)},"
                f" edits {display.money(a.edits)}",
                file=out,
            )
