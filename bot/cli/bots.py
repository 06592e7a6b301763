"""`signaldesk bots import|list|new|alerts`: bot configurations from a TOML file and the shell.

Every command applies the migrations first, so it works on a fresh database.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot.accounts_file import account_names, unknown_bot_accounts
from bot.bots_file import BotsFileError, import_bots, load_bots_file
from bot.secret_key import load_secret_key
from bot.settings import Settings
from bot.tradingview import Secrets, render_alerts, render_pine
from db.database import Database
from trading.domain.config import BotConfig, BotConfigError
from trading.domain.credentials import Passphrases, key_hash, new_webhook_key
from trading.domain.records import AuditEntry, Bot


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _list_rows(bots: list[Bot]) -> list[list[str]]:
    rows = [["NAME", "BROKER", "SYMBOL", "TICKER", "MODE", "ACTIVE", "STATE", "WEBHOOK KEY"]]
    for b in bots:
        c = b.config
        state = "paused" if b.paused else ("needs attention" if b.needs_attention else "ok")
        rows.append(
            [
                c.bot_name,
                c.broker_account,
                c.symbol,
                c.ticker,
                c.mode.value,
                "yes" if c.is_active else "no",
                state,
                b.webhook_key_hint,  # last 4 characters only; the key itself is not stored
            ]
        )
    return rows


async def _import(database: Database, file: str, out: TextIO) -> int:
    configs = load_bots_file(file, await account_names(database))
    for result in await import_bots(database, configs):
        print(f"{result.outcome:9}  {result.bot_name}", file=out)
    return 0


async def _list(database: Database, out: TextIO) -> int:
    async with database.uow() as uow:
        bots = await uow.bots.list()
    if not bots:
        print("no bots yet: `signaldesk bots import FILE.toml` or `signaldesk bots new NAME`", file=out)
        return 0
    _table(_list_rows(bots), out)
    return 0


async def _new(database: Database, args: argparse.Namespace, out: TextIO) -> int:
    prefix = "".join(ch for ch in args.name.lower() if ch.isalnum())[:24]
    key = new_webhook_key(prefix)
    config = BotConfig.parse(
        {
            "bot_name": args.name,
            "symbol": args.symbol,
            "broker_account": args.broker,
            "mode": args.mode,
            "approve": args.approve,
            "webhook_key": key,
        }
    )
    unknown = unknown_bot_accounts([config], await account_names(database))
    if unknown:
        raise BotsFileError(unknown)
    async with database.uow() as uow:
        if await uow.bots.get_by_name(config.bot_name) is not None:
            raise BotsFileError([f"bot {config.bot_name}: bot_name: a bot with this name exists already"])
        await uow.bots.upsert(config)
        await uow.audit.add(AuditEntry("cli", "bots new", f"bot:{config.bot_name}", True, "created"))
        await uow.commit()
    print(f"created bot {config.bot_name} ({config.broker_account} {config.symbol}, {config.mode.value})", file=out)
    print(f"webhook key: {key}", file=out)
    print(f"TradingView webhook URL: https://<your host>/webhook/{key}", file=out)
    print("The key is shown this once; only its hash is stored.", file=out)
    return 0


async def _alerts(database: Database, settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    async with database.uow() as uow:
        bot = await uow.bots.get_by_name(args.name)
        names = [] if bot is not None else [b.name for b in await uow.bots.list()]
    if bot is None:
        known = ", ".join(names) if names else "none yet: `signaldesk bots import FILE.toml`"
        raise BotsFileError([f"bot {args.name}: no such bot (the bots: {known})"])
    if args.pine:
        print(render_pine(settings, bot), file=out)
        return 0
    secrets = _secrets_from_file(bot, args.bots_file, database.passphrases) if args.bots_file else Secrets()
    print(render_alerts(settings, bot, secrets), file=out)
    return 0


def _secrets_from_file(bot: Bot, path: str, passphrases: Passphrases | None) -> Secrets:
    """The bot's key and passphrase from the file it was imported from, checked against the
    stored hashes, so what is printed is what the webhook accepts."""
    config = next((c for c in load_bots_file(path) if c.bot_name == bot.name), None)
    if config is None:
        raise BotsFileError([f"bot {bot.name}: not in {path}"])
    problems = []
    if key_hash(config.webhook_key) != bot.webhook_key_hash:
        problems.append(f"bot {bot.name}: webhook_key: the key in {path} is not the stored one")
    if bot.passphrase_hash is not None and passphrases is None:
        raise BotsFileError([f"bot {bot.name}: passphrase: cannot be checked without the server's secret key"])
    if (passphrases is not None and not passphrases.matches(bot.name, config.passphrase, bot.passphrase_hash)) or (
        config.passphrase and bot.passphrase_hash is None
    ):
        problems.append(f"bot {bot.name}: passphrase: the passphrase in {path} is not the stored one")
    if problems:
        raise BotsFileError([*problems, f"import the file first (`signaldesk bots import {path}`) or fix it"])
    return Secrets(webhook_key=config.webhook_key, passphrase=config.passphrase)


async def run(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    # Looked up per call, not bound as defaults: the streams may be replaced after import.
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        database = Database(settings.database_url, passphrases=Passphrases(load_secret_key(settings)))
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    try:
        await database.upgrade()
        if args.bots_command == "import":
            return await _import(database, args.file, out)
        if args.bots_command == "list":
            return await _list(database, out)
        if args.bots_command == "new":
            return await _new(database, args, out)
        if args.bots_command == "alerts":
            return await _alerts(database, settings, args, out)
        print(f"error: unknown bots command {args.bots_command!r}", file=err)
        return 2
    except BotsFileError as e:
        for line in e.lines:
            print(line, file=err)
        if args.bots_command == "import":
            print("nothing was imported", file=err)
        return 1
    except BotConfigError as e:
        for line in e.errors:
            print(f"bot {e.bot_name}: {line}", file=err)
        return 1
    finally:
        await database.dispose()
