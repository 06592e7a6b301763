"""Start and stop the Discord front-end on the running event loop (beside Hypercorn)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
import discord.gateway
import discord.http
import yarl

from bot.discord.chart import card_chart_maker
from bot.discord.client import SignalDeskClient
from bot.discord.sink import DiscordSink
from bot.settings import Settings
from trading.services.candles import CandleStore
from trading.services.leader_relay import LeaderRelay
from trading.services.ledger import Ledger
from trading.services.ports import Clock
from trading.services.use_cases import UseCases

log = logging.getLogger("signaldesk.discord")


class DiscordRuntime:
    def __init__(self, client: SignalDeskClient, sink: DiscordSink, task: asyncio.Task[None]) -> None:
        self.client = client
        self.sink = sink
        self.task = task
        # In a leader of several processes: what hands the sink every process's events
        # (trading.services.leader_relay); closed first, so nothing more is queued.
        self.relay: LeaderRelay | None = None

    def is_connected(self) -> bool:
        """For /health: logged in, guilds received, gateway open."""
        return self.client.is_ready() and not self.client.is_closed() and not self.task.done()

    async def wait_ready(self, within: float) -> bool:
        """Until connected or the client stopped (a bad token); False if not connected."""
        ready = asyncio.ensure_future(self.client.wait_until_ready())
        try:
            await asyncio.wait({ready, self.task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        return self.is_connected()

    async def close(self, drain_timeout: float = 5.0) -> None:
        if self.relay is not None:
            await self.relay.close()
        await self.sink.aclose(drain_timeout)
        await self.client.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


def point_at(api_base_url: str, gateway_url: str) -> None:
    """Where discord.py talks to: Discord itself, or a loopback fake in tests. These are
    class attributes in discord.py, so this is process-wide."""
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def start_discord(
    settings: Settings,
    use_cases: UseCases,
    clock: Clock,
    *,
    batch_window: float = 1.0,
    ledger: Ledger | None = None,
    candles: CandleStore | None = None,
) -> DiscordRuntime:
    """Start the client as a task on the current loop; returns at once (see wait_ready).
    `ledger`: what /edge reads. `candles`: the stored candles each new card's chart is drawn from."""
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    point_at(settings.discord_api_base_url, settings.discord_gateway_url)

    def refresh_card(signal_id: int) -> None:
        sink.refresh_card(signal_id)  # the sink is built next, from the client

    client = SignalDeskClient(settings, use_cases, clock, refresh_card, ledger)
    chart = card_chart_maker(candles, clock) if candles is not None else None
    sink = DiscordSink(client, use_cases, settings, batch_window=batch_window, chart=chart)
    token = settings.discord_token.get_secret_value()
    task = asyncio.create_task(_run(client, token), name="discord-client")
    return DiscordRuntime(client, sink, task)


async def _run(client: SignalDeskClient, token: str) -> None:
    try:
        await client.start(token)
    except discord.LoginFailure:
        # Never the token itself: only that it was refused.
        log.error("Discord refused DISCORD_TOKEN; the desk runs without Discord")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the Discord client stopped")
