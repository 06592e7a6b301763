"""A working desk with no accounts: the Herenya simulator served inside this process, and
the first lines a new user needs (each bot's webhook URL, a test alert, the API token).

A real Herenya account in `.env` (HERENYA_BASE_URL and keys) replaces the simulator; a
Discord token turns Discord on; nothing else changes.
"""

from __future__ import annotations

import json
import secrets
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import SecretStr

from bot.settings import Settings
from bot.tradingview import Secrets
from trading.domain.records import Bot
from trading.domain.values import BrokerName, Mode


@asynccontextmanager
async def simulated_parts(settings: Settings) -> AsyncIterator[tuple[Settings, list[str]]]:
    """The settings to run with, and what was simulated (for the banner). With
    HERENYA_SIMULATOR set and no HERENYA_BASE_URL, the simulator serves on a free loopback
    port for the block's duration, and a run without SIGNALDESK_API_TOKEN gets one."""
    notes: list[str] = []
    if not settings.herenya_simulator or settings.herenya_base_url:
        yield settings, notes
        return
    # Imported here: a serve with a real broker (every one the tests start) never loads the simulator.
    from brokers.herenya.sim_config import SimConfig
    from brokers.herenya.sim_server import running_simulator

    config = SimConfig()
    account = config.accounts[0]
    async with running_simulator(config) as sim:
        changes: dict[str, object] = {
            "herenya_base_url": sim.base_url,
            "herenya_api_key": SecretStr(account.api_key),
            "herenya_api_secret": SecretStr(account.api_secret),
            "herenya_account_id": account.account_id,
        }
        notes.append(
            f"Herenya: the simulator, inside this process at {sim.base_url} (account {account.account_id}); "
            "set HERENYA_BASE_URL and your keys in .env to trade on a real account"
        )
        if settings.signaldesk_api_token is None:
            token = secrets.token_urlsafe(24)
            changes["signaldesk_api_token"] = SecretStr(token)
            # Printed once, on the terminal of whoever started the desk; never logged.
            notes.append(f"API token for this run: {token} (set SIGNALDESK_API_TOKEN in .env to choose your own)")
        yield settings.model_copy(update=changes), notes


def next_steps(settings: Settings, bots: list[Bot], known: dict[str, Secrets], notes: list[str]) -> str:
    """The banner printed once the desk is up: where it is, what is simulated, and how to
    send a first alert and decide an approval. `known`: secrets by bot name, from the bots
    file (only hashes are stored)."""
    base = f"http://{settings.signaldesk_host}:{settings.signaldesk_port}"
    token = settings.signaldesk_api_token.get_secret_value() if settings.signaldesk_api_token else None
    lines = [f"signaldesk is up on {base} (health: {base}/health)", *[f"  {n}" for n in notes]]
    if settings.discord_token is None:
        lines.append("  Discord: off (set DISCORD_TOKEN in .env; see docs/discord.md)")
    lines.append("")
    lines.append("Bots (the webhook URL to paste into TradingView; see `signaldesk bots alerts NAME`):")
    examples: list[str] = []
    for bot in bots:
        if not bot.config.is_active:
            continue
        secret = known.get(bot.name, Secrets())
        key = secret.webhook_key or "<webhook key>"
        broker = "paper" if bot.config.broker_account == BrokerName.PAPER else bot.config.broker_account
        lines.append(f"  {bot.name} ({bot.config.mode.value} mode, {broker} {bot.config.symbol}): {base}/webhook/{key}")
        # No "time": an alert without one is never too old, so the line works whenever it is run.
        body: dict[str, str] = {"action": "RSI_LONG_ENTRY", "price": "53210.5"}
        if bot.passphrase_hash is not None:
            body["passphrase"] = secret.passphrase or "<passphrase>"
        curl = f"curl -s {base}/webhook/{key} -H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
        examples.append(f"  # a test alert for {bot.name}\n  {curl}")
        if bot.config.mode is Mode.APPROVE and token is not None:
            auth = f"-H 'Authorization: Bearer {token}'"
            examples.append(
                f"  # {bot.name} waits for a decision: list what waits, then approve one by its id\n"
                f"  curl -s {auth} '{base}/api/signals?state=pending_approval'\n"
                f"  curl -s -X POST {auth} {base}/api/signals/<id>/approve"
            )
    if examples:
        minutes = settings.webhook_dedupe_minutes
        lines += [
            "",
            "Try it (the price must be near the quote; the simulator starts at 53210.5):",
            *examples,
            f'Sent again within {minutes} minutes, the same line answers "duplicate" (same body within {minutes} '
            "minutes) and makes nothing new: change the price to send another.",
        ]
    return "\n".join(lines)
