"""What a bot's market looks like now, for display and checks: its instrument, a quote, the
account's equity, and a pending signal's plan and preview against the position as it stands.
Each read gives up after QUOTE_TIMEOUT and answers None rather than hold up a face."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

from trading.domain.engine import plan as plan_signal
from trading.domain.legs import sized_on_account
from trading.domain.market import Instrument, Quote
from trading.domain.plan import Plan
from trading.domain.position import Position
from trading.domain.preview import Preview, preview
from trading.domain.records import Bot, SignalEdits
from trading.domain.signals import Signal
from trading.services.execution import Executor

log = logging.getLogger("signaldesk.service")
QUOTE_TIMEOUT = 3.0  # seconds: a quote or instrument read for display gives up after this


@dataclass(frozen=True, slots=True)
class Outlook:
    """A pending signal as an approver would see it now: the plan against the position as it
    stands, the price an order would pay, and the position after with the money at risk."""

    plan: Plan
    instrument: Instrument
    quote_price: Decimal | None  # what a market order of the main leg would pay now
    preview: Preview


class MarketView:
    """Built once by the bootstrap and handed to the use cases that show or check a market."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def instrument_or_none(self, bot: Bot) -> Instrument | None:
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT):
                return await self._executor.instrument(self._executor.broker_for(bot), bot.config.symbol)
        except Exception as e:
            log.warning("instrument %s unavailable: %r", bot.config.symbol, e)
            return None

    async def quote(self, bot: Bot) -> Quote | None:
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT):
                return await self._executor.broker_for(bot).get_quote(bot.config.symbol)
        except Exception as e:
            log.warning("quote %s unavailable: %r", bot.config.symbol, e)
            return None

    async def equity(self, bot: Bot) -> Decimal | None:
        """The account's equity for a bot that sizes entries by risk; None otherwise, or when
        the broker's account cannot be read now (the plan then says so)."""
        if bot.config.risk_per_trade_pct is None:
            return None
        try:
            async with asyncio.timeout(QUOTE_TIMEOUT):
                return (await self._executor.broker_for(bot).get_account()).equity
        except Exception as e:
            log.warning("account of %s unavailable: %r", bot.config.broker_account, e)
            return None

    async def outlook(
        self,
        bot: Bot,
        signal: Signal,
        edits: SignalEdits | None,
        position: Position,
        *,
        instrument: Instrument | None = None,
        quote: Quote | None = None,
    ) -> Outlook:
        """The plan and preview of `signal` on `position` now (the position is left as it is)."""
        instrument = instrument or await self.instrument_or_none(bot) or Instrument(bot.config.symbol)
        position.multiplier = instrument.contract_multiplier
        # A leg on an account that scales the bot's quantity: planned as it will execute.
        signal, _note = sized_on_account(signal, bot.config, instrument, edits)
        the_plan = plan_signal(bot.config, position, signal, instrument, edits, await self.equity(bot))
        return self.preview(position, signal, edits, the_plan, instrument, quote)

    @staticmethod
    def preview(
        position: Position,
        signal: Signal,
        edits: SignalEdits | None,
        the_plan: Plan,
        instrument: Instrument,
        quote: Quote | None,
    ) -> Outlook:
        main = the_plan.legs[-1] if the_plan.legs else None
        now_price = quote.price_for(main.side) if quote is not None and main is not None else None
        entry = (edits.limit_price if edits and edits.limit_price else None) or now_price or signal.price
        seen = preview(position, the_plan, entry, the_plan.new_stop_loss, instrument.tick_size)
        return Outlook(the_plan, instrument, now_price, seen)

    async def mark(self, bot: Bot, position: Position) -> Decimal | None:
        """The price the position would close at now."""
        quote = await self.quote(bot)
        if quote is None or position.side is None:
            return None
        return quote.price_for(position.side.closing_order_side)
