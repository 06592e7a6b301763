"""`approve = "entries"` in the real `signaldesk serve` against the loopback fake Discord and
the Herenya simulator: a reversal closes the open long at once, while only its new entry
waits on a card that says so; a plain close then runs without a card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.approval_world import World, approval_world
from tests.e2e.fake_discord import embed_text

pytestmark = pytest.mark.slow

KEY = "approve_entries_key_01"
BOT = {
    "bot_name": "EntriesOnly",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "approve",
    "approve": "entries",
    "webhook_key": KEY,
    "max_slippage_pct": "0.5",
}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with approval_world(tmp_path, BOT) as w:
        yield w


async def test_a_reversal_closes_at_once_while_the_new_entry_waits_on_a_card(world: World) -> None:
    long_id = await world.alert("RSI_LONG_ENTRY")
    await world.approve(long_id)
    assert world.orders() == [(f"sd-{long_id}-1", "BUY", 1)]

    short_id = await world.alert("RSI_SHORT_ENTRY")
    card = await world.card(short_id)
    waiting = await world.state(short_id, "pending_approval")
    close_id = short_id + 1  # the close the split stored with the card
    assert waiting["reason"] == (
        f"approve entries: the long 1 is closed at once (signal #{close_id}); only the new entry waits"
    )
    # Closed at once, by its own signal; nothing of the new entry was sent.
    await world.state(close_id, "executed")
    assert world.orders() == [(f"sd-{long_id}-1", "BUY", 1), (f"sd-{close_id}-1", "SELL", 1)]
    text = embed_text(card)
    assert f"the long 1 is closed at once (signal #{close_id})" in text
    await world.fake.wait_for(
        lambda: any(
            f"signal #{short_id}: approve entries" in (m.get("content") or "")
            for m in world.fake.channel_messages(world.log)
        ),
        within=15,
    )

    await world.approve(short_id)
    assert world.orders()[-1] == (f"sd-{short_id}-1", "SELL", 1)  # the open alone: the close ran already

    cards = world.cards()
    close_short = await world.alert("RSI_CLOSE_SHORT")
    await world.state(close_short, "executed")
    assert world.orders()[-1] == (f"sd-{close_short}-1", "BUY", 1)
    assert world.cards() == cards  # no card for an exit
