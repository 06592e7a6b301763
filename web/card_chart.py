"""An approval card's chart on the web desk: the numbers the page's script draws (uPlot, as
the Trades page's curve), the same candles and lines as the PNG on the Discord card
(bot/discord/chart.py): the last hour's closes, the alert, the quote now, the stop, the target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trading.domain.candles import CHART_CANDLES, CHART_MIN_CANDLES, Candle
from trading.domain.views import ApprovalCard

CANDLES_SHOWN = CHART_CANDLES
# The Discord PNG's colours (bot/discord/chart.py LINES), so both cards read alike.
COLOURS = {"Alert": "#0000ff", "Quote now": "#00a000", "Stop": "#ff0000", "Target": "#ff8c00"}


@dataclass(frozen=True, slots=True)
class CardChartData:
    candles: int  # how many one-minute candles are stored for the window
    labels: list[str] = field(default_factory=list)  # a line a column after the time
    points: list[list[float]] = field(default_factory=list)  # [unix seconds, close, level, ...]
    colours: list[str] = field(default_factory=list)  # a line's colour, as on the Discord card's PNG

    @property
    def drawn(self) -> bool:
        return self.candles >= CHART_MIN_CANDLES

    @property
    def needed(self) -> int:
        return CHART_MIN_CANDLES


def card_chart_data(card: ApprovalCard, candles: Sequence[Candle]) -> CardChartData:
    shown = list(candles)[-CHART_CANDLES:]
    if len(shown) < CHART_MIN_CANDLES:
        return CardChartData(len(shown))
    levels = [
        (name, value)
        for name, value in (
            ("Alert", card.alert_price),
            ("Quote now", card.quote),
            ("Stop", card.stop_loss),
            ("Target", card.take_profit),
        )
        if value is not None
    ]
    labels = ["Close"] + [name for name, _ in levels]
    colours = ["#555555"] + [COLOURS[name] for name, _ in levels]
    points: list[list[float]] = [
        [float(c.time.timestamp()), float(c.close)] + [float(v) for _, v in levels] for c in shown
    ]
    return CardChartData(len(shown), labels, points, colours)
