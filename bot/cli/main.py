"""`signaldesk`: the command line. Each subcommand imports only what it needs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence

from bot.log_format import SafeFormatter

# httpx logs every request's URL at INFO. The Telegram URL holds the bot token, and a line
# per broker call costs CPU on the order path while saying less than our own order events.
QUIET_LIBRARIES = ("httpx", "httpcore")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


# The commands that run until stopped: `serve`, and the simulator every end-to-end test starts.
LONG_RUNNING = ("serve", "herenya-sim")

# What a shell reports for a command ended by SIGPIPE (128 + 13): `... | head` stopped reading.
CLOSED_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """The command, ending quietly when the reader of its output goes away (`| head`)."""
    try:
        code = _command(argv)
        sys.stdout.flush()  # inside the try: a closed pipe often shows only at this flush
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return CLOSED_PIPE
    finally:
        gc.enable()  # for a caller in this process (the tests), whatever the command did
    return code


def _command(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="signaldesk",
        description="TradingView alerts to broker orders, decided on Discord or the web desk. "
        "`signaldesk serve` starts the desk; open the web desk at http://SIGNALDESK_HOST:SIGNALDESK_PORT/ "
        "(http://127.0.0.1:8000/ by default) and sign in (`signaldesk users add NAME`).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("serve", help="run the web desk and webhook server, the Discord client and the execution workers")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply every migration")
    backup = db_sub.add_parser("backup", help="copy a live SQLite database to FILE (PostgreSQL: prints pg_dump advice)")
    backup.add_argument("file", help="the backup file to write")
    backup.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    restore = db_sub.add_parser(
        "restore",
        help="restore a backup made by `db backup` into an empty SQLite database (PostgreSQL: pg_restore advice)",
    )
    restore.add_argument("file", help="the backup file made by `signaldesk db backup`")
    restore.add_argument(
        "--force", action="store_true", help="replace a database that is not empty (stop signaldesk serve first)"
    )

    bots_parser = sub.add_parser("bots", help="bot configurations")
    bots_sub = bots_parser.add_subparsers(dest="bots_command", required=True)
    imp = bots_sub.add_parser("import", help="create or update bots from a TOML file (idempotent by bot_name)")
    imp.add_argument("file", help="the TOML file of bots (see bots.example.toml)")
    bots_sub.add_parser("list", help="list the bots")
    new = bots_sub.add_parser("new", help="create a bot with a fresh webhook key, printed once")
    new.add_argument("name", help="the bot's name (its bot_name), unique")
    new.add_argument("--symbol", default="SA40", help="the broker's instrument it trades (default: %(default)s)")
    new.add_argument(
        "--broker",
        default="Paper",
        help="the account its orders go to: Paper (simulated fills), Herenya, or an account of the accounts file "
        "(default: %(default)s)",
    )
    new.add_argument(
        "--mode",
        default="approve",
        choices=["auto", "approve"],
        help="auto: execute at once; approve: wait for an approver's decision (default: %(default)s)",
    )
    new.add_argument(
        "--approve",
        default="entries",
        choices=["entries", "all"],
        help="in approve mode, what waits for an approver: entries only (exits run at once), or all "
        "(default: %(default)s)",
    )
    alerts = bots_sub.add_parser(
        "alerts", help="the TradingView webhook URL and alert messages of a bot (--pine: a Pine Script strategy)"
    )
    alerts.add_argument("name", help="the bot's name")
    alerts.add_argument("--pine", action="store_true", help="print a Pine Script v5 strategy that sends the alerts")
    alerts.add_argument(
        "--bots-file",
        metavar="FILE",
        help="fill in the webhook key and passphrase from the bots file the bot was imported from",
    )

    dsc = sub.add_parser("discord", help="the Discord set-up")
    dsc_sub = dsc.add_subparsers(dest="discord_command", required=True)
    dsc_sub.add_parser("check", help="check the token, guild, channels, permissions and roles; exit 1 on a problem")
    invite = dsc_sub.add_parser(
        "invite-url", help="the link that adds the bot with the scopes and permissions it needs"
    )
    invite.add_argument("--client-id", type=int, help="the Application ID (default: asked of Discord with the token)")

    sim = sub.add_parser("herenya-sim", help="run the Herenya simulator (the REST contract on loopback)")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    sim.add_argument("--port", type=int, default=8900, help="port to listen on (default: %(default)s)")
    sim.add_argument("--config", help="TOML file with accounts, keys, instruments and faults")
    sim.add_argument("--seed", type=int, default=None, help="seed of the random faults and prices, to repeat a run")
    sim.add_argument("--fault-rate", type=float, default=None, help="share of requests answered 500/502/503")
    sim.add_argument("--delay-rate", type=float, default=None, help="share of answers delayed past --delay")
    sim.add_argument("--delay", type=float, default=None, help="seconds an answer is delayed")
    sim.add_argument("--drop-rate", type=float, default=None, help="share of orders placed, then connection dropped")
    sim.add_argument("--invisible-seconds", type=float, default=None, help="order hidden from client-id look-up")
    sim.add_argument("--invisible-rate", type=float, default=None, help="share of orders hidden from look-up")
    sim.add_argument("--rate-limit", type=float, default=None, help="requests/s per key before 429 (0: none)")

    from bot.cli import accounts, candles, edge, replay, users

    accounts.add_parser(sub)
    candles.add_parser(sub)
    edge.add_parser(sub)
    replay.add_parser(sub)
    users.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command in LONG_RUNNING:
        # Their start (imports, settings, the app) allocates what lives as long as the process:
        # the collector, run every few hundred allocations, finds nothing to free in it and
        # costs a tenth of the start's CPU. Each turns it back on once started, after gc.freeze().
        gc.disable()

    from bot.settings import Settings

    settings = Settings()
    setup_logging(settings.log_level)

    if args.command == "serve":
        from bot.event_loop import run
        from bot.serve import serve
        from bot.serve_lock import AlreadyServing, one_serve_per_sqlite_file

        try:
            # Taken before the event loop starts and before the database is opened.
            with one_serve_per_sqlite_file(settings.database_url):
                return run(serve(settings), settings.signaldesk_event_loop)
        except AlreadyServing as e:
            print(f"signaldesk serve: {e}", file=sys.stderr)
            return 2
    if args.command == "db" and args.db_command == "backup":
        from bot.cli.db_backup import run as run_backup

        return run_backup(settings.database_url, args.file, overwrite=args.overwrite)
    if args.command == "db" and args.db_command == "restore":
        from bot.cli.db_restore import run as run_restore

        return run_restore(settings.database_url, args.file, force=args.force)
    if args.command == "db":
        from db.migrate import upgrade

        asyncio.run(upgrade(settings.database_url))
        print(f"database at {_safe_url(settings.database_url)} is up to date")
        return 0
    if args.command == "bots":
        from bot.cli import bots

        return asyncio.run(bots.run(settings, args))
    if args.command == "accounts":
        return asyncio.run(accounts.run(settings, args))
    if args.command == "users":
        from bot.cli import users

        return asyncio.run(users.run(settings, args))
    if args.command == "candles":
        return asyncio.run(candles.run(settings, args))
    if args.command == "edge":
        return asyncio.run(edge.run(settings, args))
    if args.command == "replay":
        from bot.cli import replay

        return replay.run(settings, args)
    if args.command == "discord":
        from bot.cli import discord_check

        return discord_check.run(settings, args)
    if args.command == "herenya-sim":
        from brokers.herenya.sim_cli import run_simulator

        return run_simulator(args)
    parser.error(f"unknown command {args.command}")
    return 2


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
