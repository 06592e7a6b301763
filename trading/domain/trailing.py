"""Trailing stops: the stop follows the best price since entry at `trailing_stop_pct`
percent (or `trailing_stop_distance` in price units) and never loosens; with
`trailing_activation_pct` it starts only once the trade is that far in profit.

The rule is stateless: the stop itself remembers the best price. Each look at the market
(the live monitor's pass, the replay's candle) offers the price now, and the stop becomes
the tighter of what it is and what the trail from that price would be; as the trail from a
price only rises with the price (a long's), the stop is always the trail from the best price
seen. The live monitor and the replay both call `trailed`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trading.domain import display
from trading.domain.config import BotConfig
from trading.domain.position import Entry, Position
from trading.domain.values import PositionSide

_HUNDRED = Decimal(100)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def trails(config: BotConfig, position: Position | None = None) -> bool:
    """Whether the bot (or `position`, by its entry alert's `trailing_stop`) trails its stop."""
    return (
        config.trailing_stop_pct is not None
        or config.trailing_stop_distance is not None
        or (position is not None and position.trailing_pct is not None)
    )


def trailed(config: BotConfig, position: Position, price: Decimal, tick: Decimal | None) -> Decimal | None:
    """The position's stop once the market has traded at `price` (the price its close would
    get: the bid for a long, the ask for a short): tighter than now, or None when it stays."""
    side, average = position.side, position.average_price
    if not trails(config, position) or side is None or average is None or position.is_flat or price <= 0:
        return None
    sign = side.sign
    if config.trailing_activation_pct is not None:
        gain_pct = (price - average) * sign / average * _HUNDRED
        if gain_pct < config.trailing_activation_pct:
            return None
    pct = position.trailing_pct or config.trailing_stop_pct  # the alert's, else the bot's
    if pct is not None:
        gap = price * pct / _HUNDRED
    else:
        assert config.trailing_stop_distance is not None
        gap = config.trailing_stop_distance
    level = _on_tick(price - gap * sign, side, tick)
    current = position.stop_loss
    if current is not None and (level - current) * sign <= 0:
        return None  # never looser, and unchanged is no move
    return level


def _on_tick(level: Decimal, side: PositionSide, tick: Decimal | None) -> Decimal:
    """To the tick, away from the price (a long's stop down, a short's up): the trail is never
    closer than asked."""
    if tick is None or tick <= 0:
        return level
    rounding = ROUND_FLOOR if side is PositionSide.LONG else ROUND_CEILING
    return (level / tick).to_integral_value(rounding=rounding) * tick


def trail_words(config: BotConfig, side: PositionSide, price: Decimal, tick: Decimal | None = None) -> str | None:
    """The trail an entry at `price` gets, as a card says it: "trailing stop 1% from the best
    price, from 52,678.5 at the entry"; None for a bot without one."""
    if not trails(config):
        return None
    gap = f"{config.trailing_stop_pct}%" if config.trailing_stop_pct is not None else f"{config.trailing_stop_distance}"
    words = f"trailing stop {gap} from the best price"
    if config.trailing_activation_pct is not None:
        return f"{words}, once {config.trailing_activation_pct}% in profit"
    entry = Position.from_entries(config.symbol, side, [Entry("entry", Decimal(1), price, _EPOCH)], average_price=price)
    start = trailed(config, entry, price, tick)
    return f"{words}, from {display.price(start, tick)} at the entry" if start is not None else words
