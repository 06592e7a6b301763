"""The chart on an approval card: the instrument's recent one-minute candles with the alert's
price, the quote now, the stop and the target as lines, as a PNG (matplotlib, Agg, no
display). Rendering is CPU work: callers run `render_chart` off the event loop
(`asyncio.to_thread`)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import discord

from trading.domain.candles import CHART_CANDLES, CHART_MIN_CANDLES, MINUTE, Candle
from trading.domain.views import ApprovalCard
from trading.services.candles import CandleStore
from trading.services.ports import Clock

MIN_CANDLES = CHART_MIN_CANDLES  # fewer: the card says so and keeps the chart link
CANDLES_SHOWN = CHART_CANDLES
WIDTH, HEIGHT, DPI = 800, 400, 100  # pixels
# The plot's box inside the image, as fractions (left, bottom, width, height): fixed, so a
# price's pixel row is known (`ChartImage.row_of`).
BOX = (0.09, 0.12, 0.78, 0.8)
# Each line its own pure colour, drawn without anti-aliasing (a test finds it by colour).
LINES = {
    "alert": (0, 0, 255),
    "quote": (0, 160, 0),
    "stop": (255, 0, 0),
    "target": (255, 140, 0),
}
UP, DOWN = "#26a69a", "#555555"


@dataclass(frozen=True, slots=True)
class ChartLevels:
    alert: Decimal
    quote: Decimal | None = None
    stop: Decimal | None = None
    target: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ChartImage:
    png: bytes
    low: Decimal  # the price at the bottom of the plot
    high: Decimal  # the price at its top

    def row_of(self, price: Decimal) -> int:
        """The image's pixel row (0 at the top) of `price`."""
        top = HEIGHT * (1 - BOX[1] - BOX[3])
        span = HEIGHT * BOX[3]
        return round(top + float((self.high - price) / (self.high - self.low)) * span)


def warm_up() -> None:
    """Load matplotlib (a second or two, once), so the first card's chart is not the one
    that waits for it. Run in a worker thread."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.figure  # the import is the point


def render_chart(symbol: str, candles: Sequence[Candle], levels: ChartLevels) -> ChartImage:
    """The last CANDLES_SHOWN candles (at least MIN_CANDLES) and the levels, as a PNG."""
    if len(candles) < MIN_CANDLES:
        raise ValueError(f"{len(candles)} candle(s): a chart needs at least {MIN_CANDLES}")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # the object API: no pyplot state, safe in a thread

    shown = list(candles)[-CANDLES_SHOWN:]
    prices = [p for c in shown for p in (c.high, c.low)]
    prices += [p for p in (levels.alert, levels.quote, levels.stop, levels.target) if p is not None]
    low, high = min(prices), max(prices)
    pad = (high - low) * Decimal("0.08") or abs(high) * Decimal("0.001") or Decimal(1)
    low, high = low - pad, high + pad

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    axes = figure.add_axes(BOX)
    # Two calls for all the candles (wicks, then bodies): an artist a candle costs a tenth of a second.
    xs = list(range(len(shown)))
    colours = [UP if c.close >= c.open else DOWN for c in shown]
    axes.vlines(xs, [float(c.low) for c in shown], [float(c.high) for c in shown], colors=colours, linewidth=1)
    bottoms = [float(min(c.open, c.close)) for c in shown]
    least = float(high - low) / 400  # a doji still shows a body
    heights = [max(float(abs(c.close - c.open)), least) for c in shown]
    axes.bar(xs, heights, bottom=bottoms, width=0.6, color=colours)
    for name, value in (
        ("alert", levels.alert),
        ("quote", levels.quote),
        ("stop", levels.stop),
        ("target", levels.target),
    ):
        if value is None:
            continue
        rgb = tuple(v / 255 for v in LINES[name])
        axes.axhline(float(value), color=rgb, linewidth=1, antialiased=False)
        axes.annotate(
            f"{name} {value}", xy=(1.005, float(value)), xycoords=("axes fraction", "data"), fontsize=8, color=rgb,
            va="center",
        )  # fmt: skip
    axes.set_xlim(-1, len(shown))
    axes.set_ylim(float(low), float(high))
    first, last = shown[0].time, shown[-1].time
    axes.set_xticks([0, len(shown) - 1], [f"{first:%H:%M}", f"{last:%H:%M} UTC"])
    axes.set_title(f"{symbol} · {len(shown)} one-minute candles", fontsize=9, loc="left")
    axes.tick_params(labelsize=8)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return ChartImage(out.getvalue(), low, high)


# --------------------------------------------------------------------------- on the card

FILENAME = "chart.png"


@dataclass(frozen=True, slots=True)
class CardChart:
    """What a card shows of its chart: drawn (with the PNG when it is being posted), or why not."""

    candles: int  # how many one-minute candles were stored for the window
    png: bytes | None = None
    drawn: bool = False


def card_chart_maker(store: CandleStore, clock: Clock) -> Callable[[ApprovalCard], Awaitable[CardChart]]:
    """The sink's way to a card's chart: the last hour of stored candles, drawn off the loop."""

    loading = asyncio.get_running_loop().run_in_executor(None, warm_up)

    async def make(card: ApprovalCard) -> CardChart:
        await loading
        now = clock.now()
        candles = await store.between(card.symbol, now - timedelta(minutes=CANDLES_SHOWN), now + MINUTE)
        if len(candles) < MIN_CANDLES:
            return CardChart(len(candles))
        levels = ChartLevels(card.alert_price, card.quote, card.stop_loss, card.take_profit)
        image = await asyncio.to_thread(render_chart, card.symbol, candles, levels)
        return CardChart(len(candles), image.png, drawn=True)

    return make


def with_chart(embed: discord.Embed, chart: CardChart | None) -> discord.Embed:
    """The card's embed showing its chart (the attached PNG), or saying why there is none
    (the card keeps its chart link either way)."""
    if chart is None:
        return embed
    if chart.drawn:
        embed.set_image(url=f"attachment://{FILENAME}")
    else:
        embed.add_field(
            name="Chart",
            value=f"{chart.candles} one-minute candle(s) stored; the chart is drawn from {MIN_CANDLES}.",
            inline=False,
        )
    return embed
