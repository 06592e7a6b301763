"""The decision ledger end to end (issue 30): the real process on the Herenya simulator and
the loopback fake Discord; an approver rejects one entry and approves another, the price
moves, and /edge shows the figures computed here from the candles the desk kept."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from bot.discord.chart import FILENAME, HEIGHT, LINES, WIDTH
from db.repositories.candles import SqlCandleStore
from tests.e2e.discord_harness import DeskWorld, World, card_for, desk_world, timed_discord_world
from tests.e2e.fake_discord import embed_text
from trading.domain.candles import Candle, SymbolCandle, minute_of

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


@pytest.fixture
async def desk(world: World, tmp_path: Path) -> AsyncIterator[DeskWorld]:
    async with desk_world(world, tmp_path / "desk.db") as d:
        yield d


async def test_a_rejected_and_an_approved_entry_then_edge_on_discord(desk: DeskWorld) -> None:
    w = desk.world
    desk.sim.state.set_quote("SA40", Decimal("53210"), Decimal("53211"))  # last: the mid, 53210.5

    rejected = await desk.alert("RSI_LONG_ENTRY", "53210.5")
    mid = await card_for(desk, rejected)
    opened = await w.discord.click(mid, f"sd:reject:{rejected}", w.alice)
    await (await w.discord.submit_modal(opened, w.alice, {"reason": "not now"})).reply()

    approved = await desk.alert("RSI_LONG_ENTRY", "53210.5")
    mid = await card_for(desk, approved)
    await (await w.discord.click(mid, f"sd:approve:{approved}", w.alice)).reply()
    await w.discord.wait_for(lambda: "Executed" in embed_text(w.discord.messages[mid]), within=10)

    # A minute on, the price has moved; the desk reads it (as the monitor or a card would)
    # and writes its candles.
    desk.clock.offset += timedelta(minutes=1)
    desk.sim.state.set_quote("SA40", Decimal("53300"), Decimal("53301"))  # last 53300.5
    [position] = await desk.app.use_cases.queries.positions()
    assert position.quantity == 1
    assert desk.app.candles is not None
    await desk.app.candles.flush()

    rec = await w.discord.slash("edge", w.mallory, w.approvals, bot="SA40_RSI_Bot", days=1)
    text = embed_text(await rec.reply())
    # The bot alone took both entries at the alert's price (pyramiding on): long 2 @53210.5,
    # marked to the last candle's close 53300.5: (53300.5 - 53210.5) x 2 = +180.
    # The desk took one, filled at the ask 53211: (53300.5 - 53211) x 1 = +89.5.
    # Edge: 89.5 - 180 = -90.5: the rejection cost (53300.5 - 53210.5) = -90; waiting -0.5.
    for line in (
        "decisions              1 approved, 0 edited, 1 rejected, 0 expired",
        "desk P&L               +89.50 ZAR",
        "bot alone P&L          +180.00 ZAR",
        "edge                   -90.50 ZAR",
        "  rejections           -90.00 ZAR",
        "  edits                0.00 ZAR",
        "  waiting              -0.50 ZAR",
        "open shadows           1 (marked to the last candle)",
        "excluded               0",
    ):
        assert line in text, text

    rec = await w.discord.slash("edge", w.mallory, w.approvals, bot="Nope")
    assert (await rec.reply())["content"] == "⛔ no bot named 'Nope'."


def line_row(image: Image.Image, rgb: tuple[int, int, int]) -> float:
    """The middle pixel row of the horizontal line drawn in this exact colour."""
    pixels = image.convert("RGB").load()
    assert pixels is not None
    rows = [
        y
        for y in range(image.height)
        if sum(1 for x in range(image.width // 10, image.width * 8 // 10) if pixels[x, y] == rgb) > image.width * 0.4
    ]
    assert rows, f"no line of colour {rgb}"
    return sum(rows) / len(rows)


async def test_a_card_carries_the_chart_once_five_candles_are_stored(desk: DeskWorld) -> None:
    w = desk.world
    desk.sim.state.set_quote("SA40", Decimal("53210"), Decimal("53211"))
    # Fewer than five candles: the card says so (and keeps its chart link).
    first = await desk.alert("RSI_LONG_ENTRY", "53210.5")
    mid = await card_for(desk, first)
    assert "the chart is drawn from 5" in embed_text(w.discord.messages[mid])
    assert w.discord.messages[mid]["attachments"] == []
    opened = await w.discord.click(mid, f"sd:reject:{first}", w.alice)
    await (await w.discord.submit_modal(opened, w.alice, {"reason": "no chart"})).reply()

    # Ten minutes of candles stored: the next card carries the chart.
    now = minute_of(desk.clock.now())
    await SqlCandleStore(desk.app.database).save(
        [
            SymbolCandle(
                "SA40", Candle(now - timedelta(minutes=10 - i), *(Decimal(p) for p in (53200, 53260, 53150, 53230)))
            )
            for i in range(10)
        ]
    )
    second = await desk.alert("RSI_LONG_ENTRY", "53210.5")
    mid = await card_for(desk, second)
    message = w.discord.messages[mid]
    assert [a["filename"] for a in message["attachments"]] == [FILENAME]
    [embed] = message["embeds"]
    assert embed["image"]["url"] == f"attachment://{FILENAME}"
    image = Image.open(io.BytesIO(w.discord.files[mid][FILENAME]))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    # The lines where the card's prices are: the pixel rows are linear in the price, so with
    # the quote's and the target's rows as the scale, the stop's row is where its price says.
    # (The alert's line, half a point from the quote's, lies under it at this scale.)
    card = await desk.app.use_cases.queries.approval_card(second)
    assert card is not None and card.quote is not None
    assert card.stop_loss is not None and card.take_profit is not None
    quote_row, target_row = line_row(image, LINES["quote"]), line_row(image, LINES["target"])
    per_price = (target_row - quote_row) / float(card.take_profit - card.quote)
    expected = quote_row + per_price * float(card.stop_loss - card.quote)
    assert abs(line_row(image, LINES["stop"]) - expected) <= 1.5
    assert line_row(image, LINES["stop"]) > quote_row > target_row  # a long's stop below, its target above

    # Decided, the card is edited in place and still shows its chart.
    await (await w.discord.click(mid, f"sd:approve:{second}", w.alice)).reply()
    await w.discord.wait_for(lambda: "Executed" in embed_text(w.discord.messages[mid]), within=10)
    assert w.discord.messages[mid]["embeds"][0]["image"]["url"] == f"attachment://{FILENAME}"
