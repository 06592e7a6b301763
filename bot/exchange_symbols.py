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
    # ccxt's import reads about a thousand files: done off the event loop, once, here.
    await asyncio.to_thread(importlib.import_module, "brokers.ccxt.client")
    refused: list[str] = []
    for bot in bots:
        account = accounts.get(bot.config.broker_account)
        if not isinstance(account, CcxtAccount):
            continue
        symbol = bot.config.symbol
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
