"""`signaldesk accounts import|list|check`: the broker accounts bots trade on.

`Herenya` and `Paper` come from the HERENYA_* and PAPER_* settings; an accounts file adds
more. Every command applies the migrations first, so it works on a fresh database.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from trading.domain import display

if TYPE_CHECKING:  # imported when the command runs: `signaldesk` builds this parser for every command
    from bot.broker_registry import BrokerRegistry
    from bot.settings import Settings
    from db.database import Database
    from trading.services.accounts import AccountStatus


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accounts = sub.add_parser("accounts", help="broker accounts: import from a TOML file, list, check")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    imp = accounts_sub.add_parser("import", help="create or update accounts from a TOML file (idempotent by name)")
    imp.add_argument("file", help="the accounts file: one [[accounts]] table per account")
    accounts_sub.add_parser("list", help="list the accounts (no secrets)")
    check = accounts_sub.add_parser(
        "check", help="connect to an account (or every one) and show balance, currency and positions"
    )
    check.add_argument("name", nargs="?", help="the account; every account when left out")
    check.add_argument("--timeout", type=float, default=10.0, help="seconds per account (default: %(default)s)")


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)


async def _import(database: Database, file: str, out: TextIO) -> int:
    from bot.accounts_file import import_accounts, load_accounts_file

    accounts = await load_accounts_file(file)
    for result in await import_accounts(database, file, accounts):
        print(f"{result.outcome:9}  {result.name}", file=out)
    print("a running `signaldesk serve` uses new or changed accounts after its next start", file=out)
    return 0


async def _list(registry: BrokerRegistry, out: TextIO) -> int:
    rows = [["NAME", "BROKER", "FROM", "CURRENCY", "WHERE"]]
    for s in registry.summaries():
        rows.append([s.name, s.broker, s.source, s.currency or "-", s.where])
    _table(rows, out)
    return 0


def _print_status(status: AccountStatus, out: TextIO) -> None:
    s = status.summary
    print(f"{s.name} ({s.broker}, {s.where})", file=out)
    if not status.reachable or status.account is None:
        print(f"  unreachable: {status.problem}", file=out)
        return
    a = status.account
    print(
        f"  reachable, currency {a.currency}: balance {display.amount(a.balance, a.currency)}, "
        f"equity {display.amount(a.equity, a.currency)}",
        file=out,
    )
    if not status.positions:
        print("  positions: none", file=out)
    for p in status.positions:
        side = "long" if p.quantity > 0 else "short"
        pnl = display.money(p.unrealized_pnl, a.currency)
        print(
            f"  position: {p.symbol} {side} {display.quantity(abs(p.quantity))} @ {display.price(p.average_price)}"
            f" (unrealized {pnl})",
            file=out,
        )


async def _check(
    registry: BrokerRegistry, database: Database, name: str | None, seconds: float, out: TextIO, err: TextIO
) -> int:
    from trading.services.accounts import check_accounts

    summaries = registry.summaries()
    if name is not None:
        chosen = [s for s in summaries if s.name == name] or [s for s in summaries if s.name.lower() == name.lower()]
        if not chosen:
            known = ", ".join(s.name for s in summaries)
            print(f"error: no account named {name!r} (the accounts: {known})", file=err)
            return 1
    else:
        # Herenya without its settings is simply not in use: listed, not counted as down.
        chosen = [s for s in summaries if s.name != "Herenya" or registry.herenya_configured]
        if len(chosen) < len(summaries):
            print("Herenya: not configured (HERENYA_BASE_URL unset); skipped", file=out)
    statuses = await check_accounts(chosen, registry, seconds=seconds)
    symbols_found = True
    for status in statuses:
        _print_status(status, out)
        if status.reachable and status.summary.broker == "ccxt":
            symbols_found = await _print_symbols(registry, database, status.summary.name, out) and symbols_found
    return 0 if all(s.reachable for s in statuses) and symbols_found else 1


async def _print_symbols(registry: BrokerRegistry, database: Database, name: str, out: TextIO) -> bool:
    """An exchange account's bots' symbols, found on the exchange or not (its markets are
    loaded for it); whether every one was found."""
    from brokers.errors import BrokerError

    async with database.uow(read_only=True) as uow:
        bots = [b for b in await uow.bots.list() if name in b.config.account_names]
    if not bots:
        print("  bots: none on this account", file=out)
    found = True
    for bot in bots:
        symbol = bot.config.symbol_on(name)  # a bot on several accounts may trade another symbol here
        try:
            instrument = await registry(name).get_instrument(symbol)
        except BrokerError as e:
            found = False
            print(f"  bot {bot.name}: symbol {symbol} NOT FOUND ({e.message})", file=out)
            continue
        print(
            f"  bot {bot.name}: symbol {symbol} found (quantity {instrument.min_quantity} to "
            f"{instrument.max_quantity}, tick {instrument.tick_size}, settles in {instrument.currency})",
            file=out,
        )
    return found


async def run(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    from bot.accounts_file import AccountsFileError
    from bot.broker_registry import BrokerRegistry
    from db.database import Database
    from trading.domain.accounts import AccountConfigError

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        database = Database(settings.database_url)
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    registry = BrokerRegistry(settings, database)
    try:
        await database.upgrade()
        if args.accounts_command == "import":
            return await _import(database, args.file, out)
        await registry.load()
        if args.accounts_command == "list":
            return await _list(registry, out)
        if args.accounts_command == "check":
            return await _check(registry, database, args.name, args.timeout, out, err)
        print(f"error: unknown accounts command {args.accounts_command!r}", file=err)
        return 2
    except AccountsFileError as e:
        for line in e.lines:
            print(line, file=err)
        if args.accounts_command == "import":
            print("nothing was imported", file=err)
        return 1
    except AccountConfigError as e:
        # A stored account today's rules refuse (written by another version).
        print(f"error: stored {e}", file=err)
        return 1
    finally:
        await registry.aclose()
        await database.dispose()
