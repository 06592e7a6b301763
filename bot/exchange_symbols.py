"""At start-up, every bot on an exchange account (broker = "ccxt") has its symbol looked up
on the exchange: a symbol the exchange does not list pauses the bot, naming the bot, the
symbol and the account, so no alert is taken for it; a later start that finds the symbol
lifts that pause (and only that one)."""

from __future__ import annotations

import asyncio
import importlib
import logging

from bot.broker_registry import BrokerRegistry
from brokers.errors import UnknownSymbol
from db.database import Database
from trading.domain.accounts import CcxtAccount
from trading.domain.records import Bot

log = logging.getLogger("signaldesk.brokers")

# The start of the pause reason this check gives (and the only pause it lifts).
UNLISTED = "the exchange does not list symbol"


async def check_bot_symbols(registry: BrokerRegistry, database: Database, bots: list[Bot]) -> list[str]:
    """One line per bot refused (paused). An exchange that cannot be reached now is logged
    and its bots left as they are: the first order finds out."""
    accounts = registry.accounts
    # Every (bot, exchange account) pair: a bot on several accounts has a symbol on each.
    legs = [
        (bot, account, bot.config.symbol_on(name))
        for bot in bots
        for name in bot.config.account_names
        if isinstance(account := accounts.get(name), CcxtAccount)
    ]
    if not legs:
        return []
    # ccxt's import reads about a thousand files: done off the event loop, once, here.
    await asyncio.to_thread(importlib.import_module, "brokers.ccxt.client")
    refused: list[str] = []
    for bot, account, symbol in legs:
        try:
            await registry(account.name).get_instrument(symbol)
        except UnknownSymbol as e:
            reason = f"{UNLISTED} {symbol!r} (account {account.name}, exchange {account.exchange}): {e.message}"
            line = f"bot {bot.name}: {reason}"
            log.error("%s; the bot is paused until its symbol is fixed", line)
            refused.append(line)
            async with database.uow() as uow:
                await uow.bots.set_paused(bot.id, True, reason)
                await uow.commit()
            continue
        except Exception as e:
            log.warning("bot %s: could not look up %s on account %s now: %s", bot.name, symbol, account.name, e)
            continue
        if bot.paused and (bot.paused_reason or "").startswith(UNLISTED):
            async with database.uow() as uow:
                await uow.bots.set_paused(bot.id, False)
                await uow.commit()
            log.info("bot %s: %s is listed on %s now; its pause is lifted", bot.name, symbol, account.exchange)
    return refused
