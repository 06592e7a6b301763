"""Approvals that decay in the real `signaldesk serve` against the loopback fake Discord and
the Herenya simulator: a card expires itself once the quote drifts too far (its buttons go,
the signal says why), and a late approval is sent as a capped, marketable limit."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.approval_world import World, approval_world
from tests.e2e.fake_discord import embed_text

pytestmark = pytest.mark.slow

BOT = {
    "bot_name": "Decaying",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "approve",
    "webhook_key": "approval_decay_key_01",
    "max_slippage_pct": "1",
    "approval_max_drift_pct": "0.5",
    "approval_limit_offset_pct": "0.1",
}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with approval_world(tmp_path, BOT) as w:
        yield w


async def test_a_card_expires_on_drift_and_a_late_approval_goes_as_a_capped_limit(world: World) -> None:
    drifting = await world.alert("RSI_LONG_ENTRY")  # at 53,210.5
    card = await world.card(drifting)
    await asyncio.to_thread(world.sim.set_quote, "SA40", "53500", "53501")  # the ask 0.55% away
    expired = await world.state(drifting, "expired")
    assert expired["reason"] == (
        "the price moved 0.55% from the alert's 53,210.5 to 53,501.0 (approval_max_drift_pct 0.5)"
    )
    edited = await world.fake.wait_for(
        lambda: (m := world.fake.messages[int(card["id"])]) and not world.fake.custom_ids(m) and m, within=15
    )
    assert "approval_max_drift_pct 0.5" in embed_text(edited)  # the card says why it expired
    assert world.orders() == []

    await asyncio.to_thread(world.sim.set_quote, "SA40", "53230", "53231")  # within the drift, above the alert
    late = await world.alert("RSI_LONG_ENTRY")
    await world.approve(late)
    (order,) = world.sim.book()
    # 0.1% above the alert's 53,210.5 is 53,263.71, down to the tick: a limit the ask (53,231) is under.
    assert (order["client_order_id"], order["type"], order["limit_price"]) == (f"sd-{late}-1", "LIMIT", "53263.5")
    assert order["status"] == "FILLED"


@pytest.fixture
async def live_world(tmp_path: Path) -> AsyncIterator[World]:
    async with approval_world(tmp_path, BOT, {"APPROVAL_CARD_REFRESH_SECONDS": "0.2"}) as w:
        yield w


async def test_a_pending_card_is_edited_in_place_with_the_quote_its_drift_and_the_time_left(
    live_world: World,
) -> None:
    world = live_world
    signal_id = await world.alert("RSI_LONG_ENTRY")  # at 53,210.5
    card = await world.card(signal_id)
    assert "⏱️ " in embed_text(card) and "m left" in embed_text(card)  # the countdown, to the minute
    await asyncio.to_thread(world.sim.set_quote, "SA40", "53300", "53301")  # within the 0.5% drift
    path = rf"^/channels/{world.approvals}/messages/{card['id']}$"

    def edited_with_the_move() -> dict[str, Any] | None:
        for call in world.fake.calls_to("PATCH", path):
            if "53,301.0, +90.5 (+0.17%) above the alert" in embed_text(call.body):
                return call.body  # 53,301 - 53,210.5 = +90.5, / 53,210.5 = +0.17%
        return None

    edit = await world.fake.wait_for(edited_with_the_move, within=15)
    assert "⏱️ " in embed_text(edit) and "m left" in embed_text(edit)
    message = world.fake.messages[int(card["id"])]
    assert f"sd:approve:{signal_id}" in world.fake.custom_ids(message)  # still waiting, buttons kept
    # An edit only when the text changed: no two edits in a row show the same card.
    texts = [embed_text(c.body) for c in world.fake.calls_to("PATCH", path)]
    assert all(a != b for a, b in itertools.pairwise(texts)), texts
    assert world.cards() == 1  # edited in place, never posted again
