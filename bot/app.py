"""The process: builds every part once at start-up and wires them on one event loop.

Order matters: the database is migrated before anything reads it; the runner starts after
the web app can accept (so resumed signals and new ones share the same queue); on SIGTERM
new webhooks get 503, the signal in hand finishes, then everything closes.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from quart import Quart
from sqlalchemy.engine import make_url

from bot.broker_registry import BrokerRegistry
from bot.secret_key import load_secret_key
from bot.settings import Settings
from db.cluster import PostgresCluster, SingleProcess
from db.database import Database
from db.repositories.candles import SqlCandleStore
from trading.domain.credentials import Passphrases
from trading.domain.events import DeskStarted, DeskStopping, LeaderChanged
from trading.domain.records import Bot
from trading.services.alerts_first import AlertsFirst
from trading.services.bootstrap import bootstrap
from trading.services.candles import CandleGaps, CandleRecorder, CandleSampler, CandleTrimmer, recording_brokers
from trading.services.clock import SystemClock
from trading.services.dispatch import EventBus
from trading.services.feed import EventFeed
from trading.services.intake import Intake
from trading.services.ledger import Ledger, WeeklyEdgeSummary
from trading.services.people import People
from trading.services.ports import Clock
from trading.services.retention import Retention, WebhookLogTrimmer
from trading.services.runner import Runner, RunnerOptions
from trading.services.storage_watch import StorageWatch
from trading.services.use_cases import UseCases
from web.app import create_app
from web.deps import Draining, WebDeps
from web.errors import status_for

log = logging.getLogger("signaldesk.app")


def crash_checkpoint(spec: str | None) -> Callable[[str], None]:
    """SIGNALDESK_CRASH_AT=<point>[:<n>] kills this process with SIGKILL the n-th time it
    passes <point> (a test hook for the crash tests; unset in production, it does nothing)."""
    if not spec:
        return lambda _point: None
    point, _, nth = spec.partition(":")
    remaining = [int(nth) if nth else 1]

    def check(name: str) -> None:
        if name == point:
            remaining[0] -= 1
            if remaining[0] <= 0:
                log.warning("crash test: SIGKILL at %s", name)
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)

    return check


@dataclass
class App:
    settings: Settings
    database: Database
    bus: EventBus
    brokers: BrokerRegistry
    use_cases: UseCases  # what the runner and the faces call
    runner: Runner
    intake: Intake
    draining: Draining
    web: Quart
    clock: Clock
    discord: Any = None  # bot.discord.runtime.DiscordRuntime when DISCORD_TOKEN is set
    extras: dict[str, Any] = field(default_factory=dict)
    people: People | None = None
    feed: EventFeed | None = None  # the live feed: a sink of the bus, read by the web
    storage: StorageWatch | None = None  # whether the database is up: /health, the error channel, the intake
    cluster: SingleProcess | PostgresCluster | None = None  # who leads, who runs which lane
    started: bool = False
    candles: CandleRecorder | None = None  # the prices seen, written as candles (docs/ledger.md)
    ledger: Ledger | None = None  # the decision ledger: /edge, GET /api/edge, the Decisions page


def build(settings: Settings) -> App:
    """The process, built once: every part is given its collaborators as it is built."""
    clock = SystemClock()
    # One server secret: the pepper of passphrase hashes and the signer of web sessions.
    key = load_secret_key(settings)
    passphrases = Passphrases(key)
    database = Database(
        settings.database_url,
        passphrases=passphrases,
        connect_timeout=settings.database_connect_timeout_seconds,
        clock=clock,
    )
    bus = EventBus()
    storage = StorageWatch(database.probe, bus.publish, clock)
    brokers = BrokerRegistry(settings, database)
    checkpoint = crash_checkpoint(os.environ.get("SIGNALDESK_CRASH_AT"))
    retention = Retention(days=settings.webhook_log_retention_days, max_rows=settings.webhook_log_max_rows)
    housekeeping: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [
        (
            "webhook-log-trim",
            settings.webhook_log_trim_interval_seconds,
            WebhookLogTrimmer(database.uow, clock, retention),
        )
    ]
    # Every quote and fill the services read through the brokers becomes part of a candle.
    candle_store = SqlCandleStore(database)
    # The exchanges' own candles fill the minutes the desk saw no price in (read from the
    # brokers themselves: what they give is not a price the desk saw).
    gaps = CandleGaps(candle_store, brokers, clock, settings.candle_retention_days)
    ledger = Ledger(database.uow, candle_store, clock, gaps)
    candles = CandleRecorder(candle_store, clock)
    trading_brokers = recording_brokers(brokers, candles)
    housekeeping += [
        ("candles-flush", settings.candle_flush_seconds, candles.flush),
        ("candles-trim", 3600.0, CandleTrimmer(candle_store, clock, settings.candle_retention_days)),
        # Twice a minute: a timer's drift never leaves a minute without its candle.
        ("candles-sample", 30.0, CandleSampler(database.uow, trading_brokers)),
    ]
    if settings.ledger_weekly_summary:
        housekeeping.append(("ledger-weekly", 3600.0, WeeklyEdgeSummary(ledger, database.uow, clock, bus.publish)))
    if settings.runtime_stats_interval_seconds > 0:
        housekeeping.append(("runtime-stats", settings.runtime_stats_interval_seconds, _runtime_stats(database)))
    alerts_first = AlertsFirst()
    identity = f"{socket.gethostname()}:{os.getpid()}"
    # The cluster tells the process (built last, below) when it leads, is cut off or follows.
    cluster: SingleProcess | PostgresCluster = (
        SingleProcess(identity)
        if database.is_sqlite
        else PostgresCluster(
            settings.database_url,
            identity,
            retry_seconds=settings.cluster_retry_seconds,
            connect_timeout=settings.database_connect_timeout_seconds,
            on_lead=lambda: _took_the_lead(app),
            on_lost=lambda why: _cut_off(app, why),
            on_follow=lambda: _follows_now(app),
        )
    )
    services = bootstrap(
        database.uow,
        trading_brokers,
        clock,
        bus.publish,
        checkpoint=checkpoint,
        runner=RunnerOptions(
            monitor_interval=settings.monitor_interval_seconds,
            max_active_bots=settings.max_active_bots,
            reconcile_interval=settings.reconcile_interval_seconds,
            housekeeping=housekeeping,
            alerts_first=alerts_first,
            cluster=cluster,
        ),
    )

    def wake(bot_id: int) -> None:
        checkpoint("signal_stored")  # after the commit, before the answer: a crash-test point
        services.runner.wake_bot(bot_id)

    intake = Intake(
        database.uow,
        clock,
        timedelta(minutes=settings.webhook_dedupe_minutes),
        status_of=status_for,
        passphrases=passphrases,
        wake=wake,
        storage=storage,
        alerts_first=alerts_first,
    )
    draining = Draining()
    session_lifetime = timedelta(hours=settings.signaldesk_session_hours)
    people = People(database.uow, clock, session_lifetime=session_lifetime)
    feed = EventFeed(database.uow, poll_seconds=settings.signaldesk_feed_poll_seconds)
    bus.add_sink("feed", feed)
    token = settings.signaldesk_api_token.get_secret_value() if settings.signaldesk_api_token else None
    web = create_app(
        WebDeps(
            intake=intake,
            use_cases=services.use_cases,
            accounts=brokers.statuses,
            health_checks={
                "database": _database_health(database, storage),
                "broker": _broker_health(services.use_cases, brokers),
                # The Discord client is started and stopped while the process runs.
                "discord": _discord_health(settings, cluster, lambda: app.discord),
            },
            cluster_view=cluster.view,
            cluster_processes=cluster.processes if cluster.shared else None,  # SQLite: one process
            api_token=token,
            people=people,
            sign_ins=database.uow,
            secret_key=key.decode(),
            session_seconds=session_lifetime.total_seconds(),
            webhook=settings.webhook,
            draining=draining,
            feed=feed,
            clock=clock.now,
            ledger=ledger,
            candles=candle_store,
            approval_card_refresh_seconds=settings.approval_card_refresh_seconds,
            sse_keepalive_seconds=settings.signaldesk_stream_keepalive_seconds,
            max_streams_per_person=settings.signaldesk_streams_per_person,
            max_streams=settings.signaldesk_streams_total,
        )
    )
    app = App(
        settings,
        database,
        bus,
        brokers,
        services.use_cases,
        services.runner,
        intake,
        draining,
        web=web,
        clock=clock,
        people=people,
        feed=feed,
        storage=storage,
        cluster=cluster,
        candles=candles,
        ledger=ledger,
    )
    return app


async def start(app: App) -> None:
    s = app.settings
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is plenty
    await app.database.upgrade()
    await _load_accounts(app)
    if s.bots_file:
        await _seed_bots(app, s.bots_file)
    await _check_exchange_symbols(app)
    app.bus.start()
    if app.feed is not None:
        await app.feed.start()
    if app.storage is not None:
        app.storage.start()
    assert app.cluster is not None
    await app.cluster.start()
    if app.cluster.is_leader:
        await _start_discord(app)
    else:
        log.info("%s follows; the leader runs Discord and the periodic duties", app.cluster.identity)
    if s.telegram_bot_token is not None and s.telegram_chat_id:
        from bot.telegram import TelegramSink

        app.bus.add_sink(
            "telegram",
            TelegramSink(s.telegram_api_base_url, s.telegram_bot_token.get_secret_value(), s.telegram_chat_id),
        )
    resumed = await app.runner.start()
    log.info("runner started; %d unfinished signal(s) resumed", resumed)
    app.started = True
    await _announce_start(app, resumed)


async def _start_discord(app: App) -> None:
    """In the leader only: one Discord gateway connection for the desk."""
    s = app.settings
    if app.discord is not None:
        return
    if s.discord_token is None:
        log.warning("DISCORD_TOKEN is not set: running webhook-only (no approval cards, no Discord commands)")
        return
    from bot.discord.runtime import start_discord
    from trading.services.leader_relay import start_relay

    app.discord = await start_discord(
        s, app.use_cases, app.clock, ledger=app.ledger, candles=SqlCandleStore(app.database)
    )
    if app.cluster is not None and app.cluster.shared and app.feed is not None:
        app.discord.relay = await start_relay(app.feed, app.discord.sink, app.use_cases.queries, app.clock)
    app.bus.add_sink("discord", app.discord.relay or app.discord.sink)
    log.info("Discord client starting (gateway %s)", s.discord_gateway_url)


def _took_the_lead(app: App) -> None:
    """Called by the cluster when this process becomes the leader (at its start, or when
    the leader before it died): Discord starts here, the runner's duties follow by themselves."""
    if not app.started:
        return  # start() goes on with Discord itself
    cluster = app.cluster
    assert cluster is not None

    async def take_over() -> None:
        try:
            await _start_discord(app)  # first: the notice goes to the log channel too
            view = await cluster.view()
            app.bus.publish([LeaderChanged(at=app.clock.now(), process=cluster.identity, members=view["members"])])
        except Exception:
            log.exception("taking over as leader: starting Discord failed")

    task = asyncio.get_running_loop().create_task(take_over(), name="take-over")
    app.extras["take-over"] = task  # the loop keeps only a weak reference


def _cut_off(app: App, why: str) -> None:
    """The cluster connection broke: this process's bots' lanes may be another's already, so
    they stop at once (what they held is resumed like after a crash); the duties it led pause
    until it leads again. Discord stays up while cut off: if another process took the lead
    meanwhile, `_follows_now` closes it once the connection is back."""
    log.critical("cut off from the cluster (%s): lanes stopped", why)
    app.runner.abandon_lanes()


def _follows_now(app: App) -> None:
    """Another process leads now where this one led: its Discord client closes."""
    discord, app.discord = app.discord, None
    if discord is None:
        return

    async def close() -> None:
        app.bus.remove_sink("discord")
        await discord.close()

    app.extras["follow"] = asyncio.get_running_loop().create_task(close(), name="follow")


def version() -> str:
    try:
        return importlib.metadata.version("signaldesk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def database_kind(url: str) -> str:
    """The database as a notice may show it: its kind and where, never a user or password."""
    try:
        u = make_url(url)
    except Exception:
        return "unknown"
    backend = u.get_backend_name()
    if backend == "sqlite":
        return f"sqlite ({u.database or 'in memory'})"
    where = (u.host or "local socket") + (f":{u.port}" if u.port else "")
    return f"{backend} ({u.database or 'default'} on {where})"


def _bot_label(bot: Bot) -> str:
    c = bot.config
    flags = [c.mode.value, " + ".join(c.account_names)]
    if not c.is_active:
        flags.append("off")
    if bot.paused:
        flags.append("paused")
    if bot.needs_attention:
        flags.append("needs attention")
    return f"{bot.name} ({', '.join(flags)})"


async def _announce_start(app: App, resumed: int) -> None:
    """The start notice in the log channel (and every sink): version, bots, brokers, database."""
    try:
        bots = await app.use_cases.queries.bots()
    except Exception:
        log.exception("could not read the bots for the start notice")
        bots = []
    brokers = tuple(sorted({a for b in bots if b.config.is_active for a in b.config.account_names}))
    app.bus.publish(
        [
            DeskStarted(
                at=app.clock.now(),
                version=version(),
                bots=tuple(_bot_label(b) for b in bots),
                brokers=brokers,
                database=database_kind(app.settings.database_url),
                resumed=resumed,
            )
        ]
    )


async def _announce_stop(app: App) -> None:
    """The stop notice: whether anything was left in flight (it resumes at the next start)."""
    try:
        unfinished, waiting = await app.use_cases.queries.unfinished()
    except Exception:
        log.exception("could not count the unfinished signals for the stop notice")
        return
    app.bus.publish([DeskStopping(at=app.clock.now(), unfinished=unfinished, awaiting_approval=waiting)])


async def _load_accounts(app: App) -> None:
    """Create or update the accounts of ACCOUNTS_FILE, then read every stored account."""
    from bot.accounts_file import import_accounts, load_accounts_file

    path = app.settings.accounts_file
    if path:
        for result in await import_accounts(app.database, path, await load_accounts_file(path), actor="startup"):
            log.info("accounts file %s: %s %s", path, result.name, result.outcome)
    await app.brokers.load()


async def _check_exchange_symbols(app: App) -> None:
    """Bots on exchange accounts whose symbol the exchange does not list are paused, named."""
    if not any(a.broker == "ccxt" for a in app.brokers.accounts.values()):
        return
    from bot.exchange_symbols import check_bot_symbols

    await check_bot_symbols(app.brokers, app.database, await app.use_cases.queries.bots())


async def _seed_bots(app: App, path: str) -> None:
    """Create the file's bots that do not exist yet. Existing bots are left as they are, so
    a restart never undoes a /mode or /pause made on Discord; `signaldesk bots import`
    is the way to update them from the file."""
    from bot.accounts_file import account_names
    from bot.bots_file import import_bots, load_bots_file

    existing = {b.name for b in await app.use_cases.queries.bots()}
    fresh = [c for c in load_bots_file(path, await account_names(app.database)) if c.bot_name not in existing]
    for result in await import_bots(app.database, fresh, actor="startup"):
        log.info("bots file %s: %s %s", path, result.bot_name, result.outcome)


async def stop(app: App, grace: float = 10.0) -> None:
    app.draining.set()
    await app.runner.stop(grace)
    if app.candles is not None:
        await app.candles.flush()  # the minutes seen since the last flush
    await _announce_stop(app)
    await app.bus.drain(3.0)
    if app.discord is not None:
        await app.discord.close()
    await app.bus.close()
    if app.feed is not None:
        await app.feed.close()
    await app.brokers.aclose()
    await app.intake.aclose()
    if app.cluster is not None:
        await app.cluster.close()
    if app.storage is not None:
        await app.storage.stop()
    await app.database.dispose()


def _database_health(database: Database, storage: StorageWatch) -> Callable[[], Any]:
    async def check() -> tuple[bool, str]:
        # The watch's verdict first: a full disk still answers the ping (a read).
        if storage.is_down:
            return False, f"down: {storage.reason}"
        try:
            await database.ping()
        except Exception as e:
            storage.suspect(e)
            return False, f"unreachable: {type(e).__name__}"
        try:
            size = await database.size_bytes()
        except Exception as e:  # the size is for information: the database answered
            return True, f"ok; size unknown ({type(e).__name__})"
        return True, f"ok; {size} bytes ({_megabytes(size)})"

    return check


def _runtime_stats(database: Database) -> Callable[[], Awaitable[None]]:
    """What a long-running process must not accumulate, in one log line (bench/soak.py)."""
    stats_log = logging.getLogger("signaldesk.runtime")

    async def job() -> None:
        tasks = len(asyncio.all_tasks())
        stats_log.info("runtime: %d asyncio tasks, %d database connections", tasks, database.open_connections())

    return job


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def _broker_health(use_cases: UseCases, brokers: BrokerRegistry) -> Callable[[], Any]:
    async def check() -> tuple[bool, str]:
        names = sorted(
            {a for b in await use_cases.queries.bots() if b.config.is_active for a in b.config.account_names}
        )
        if not names:
            return True, "no active bots"
        down = []
        for name in names:
            try:
                # an authenticated read: proves the address, the keys and the account
                await brokers(name).get_account()
            except Exception as e:
                down.append(f"{name}: {e}")
        return (not down), ("; ".join(down) if down else ", ".join(names) + " reachable")

    return check


def _discord_health(
    settings: Settings, cluster: SingleProcess | PostgresCluster, discord: Callable[[], Any]
) -> Callable[[], Any]:
    """`discord`: the process's Discord runtime now (None while it has none)."""

    async def check() -> tuple[bool, str]:
        if settings.discord_token is None:
            return True, "off (webhook-only: DISCORD_TOKEN not set)"
        if not cluster.is_leader:
            return True, "run by the leader process"
        runtime = discord()
        if runtime is not None and runtime.is_connected():
            return True, "connected"
        return False, "not connected"

    return check
