"""The stop monitor: positions whose stop or target the quote has reached are closed
through the same path as any signal."""

from __future__ import annotations

from trading.domain.events import (
    Notice,
)
from trading.domain.levels import exit_trigger
from trading.domain.signals import SignalAction, SignalSource
from trading.services.actions import Actor
from trading.services.context import UseCase


class Monitors(UseCase):
    """Watches stops and targets."""

    async def check_exits(self) -> list[int]:
        """Close positions whose stop or target the quote has reached (once per position)."""
        made: list[int] = []
        async with self._uow() as uow:
            open_positions = await uow.positions.list_open()
            bots = {b.id: b for b in await uow.bots.list()}
        for bot_id, position in open_positions:
            bot = bots.get(bot_id)
            if bot is None or (position.stop_loss is None and position.take_profit is None):
                continue
            quote = await self._quote(bot)
            if quote is None:
                continue
            trigger = exit_trigger(position, quote)
            if trigger is None:
                continue
            opened = position.opened_at.isoformat() if position.opened_at else "?"
            alert_id = f"exit:{bot_id}:{position.symbol}:{opened}"
            async with self._uow() as uow:
                seen = await uow.signals.find_duplicate(
                    bot_id, alert_id=alert_id, body_hash="-", since=self._clock.now()
                )
            if seen is not None:
                continue
            actor = Actor("monitor", "stop monitor", True)
            message = f"{trigger.kind.value.replace('_', ' ')} {trigger.level} hit at {trigger.price}"
            stored = await self._synthetic(
                bot, SignalAction.CLOSE, trigger.price, actor, message, alert_id, SignalSource.MONITOR
            )
            made.append(stored.id)
            self._publish(
                [
                    Notice(
                        at=self._clock.now(),
                        bot_name=bot.name,
                        signal_id=stored.id,
                        message=f"{bot.name}: {message}; closing",
                    )
                ]
            )
            self.wake(bot.id)
        return made
