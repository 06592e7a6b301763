"""The chart on an approval card (issue 30, item 5): a PNG decoded here, its size, and each
level's line at its price's pixel row."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PIL import Image

from bot.discord.chart import HEIGHT, LINES, MIN_CANDLES, WIDTH, ChartLevels, render_chart
from trading.domain.candles import Candle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def candles(n: int) -> list[Candle]:
    out = []
    for i in range(n):
        base = Decimal(53200 + (i % 7) * 5)
        out.append(Candle(T0 + timedelta(minutes=i), base, base + 12, base - 9, base + 4))
    return out


def line_rows(image: Image.Image, rgb: tuple[int, int, int]) -> list[int]:
    """The rows where most of the plot's width is this exact colour."""
    pixels = image.convert("RGB").load()
    assert pixels is not None
    rows = []
    for y in range(image.height):
        hits = sum(1 for x in range(image.width // 10, image.width * 8 // 10) if pixels[x, y] == rgb)
        if hits > image.width * 0.4:
            rows.append(y)
    return rows


def test_the_png_shows_the_levels_at_their_price_rows() -> None:
    levels = ChartLevels(
        alert=Decimal("53210.5"), quote=Decimal("53220"), stop=Decimal("53150"), target=Decimal("53290")
    )
    chart = render_chart("SA40", candles(80), levels)
    image = Image.open(io.BytesIO(chart.png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    for name, price in (("stop", levels.stop), ("target", levels.target), ("alert", levels.alert)):
        assert price is not None
        rows = line_rows(image, LINES[name])
        assert rows and len(rows) <= 3, f"{name}: rows {rows}"
        # The line's middle row is the price's row, to the pixel.
        assert abs(sum(rows) / len(rows) - chart.row_of(price)) <= 1, (name, rows, chart.row_of(price))
    # Stop below the candles, target above: the stop's row is lower in the image.
    assert chart.row_of(Decimal("53150")) > chart.row_of(Decimal("53290"))


def test_fewer_than_five_candles_is_no_chart() -> None:
    with pytest.raises(ValueError, match="4 candle\\(s\\): a chart needs at least 5"):
        render_chart("SA40", candles(MIN_CANDLES - 1), ChartLevels(alert=Decimal(1)))
