"""The one card of an alert for a bot on several accounts, end to end on the loopback fake
Discord with the real Desk (issue 27, item 4): the bot trades on Herenya (the simulator) and
Paper; the alert's first leg posts one card listing both accounts, the other leg none; the
approver picks one account in the card's select menu: one order, the other leg rejected by
the approver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.discord_harness import DeskWorld, World, desk_world, timed_discord_world
from tests.e2e.fake_discord import embed_text, is_ephemeral
from trading.domain.signals import SignalState

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with timed_discord_world() as w:
        yield w


@pytest.fixture
async def desk(world: World, tmp_path: Path) -> AsyncIterator[DeskWorld]:
    async with desk_world(world, tmp_path / "desk.db", accounts=["Herenya", "Paper"]) as d:
        yield d


async def test_approving_one_account_in_the_select_menu_orders_once_and_rejects_the_other_leg(
    desk: DeskWorld,
) -> None:
    w = desk.world
    fake = w.discord
    sid = await desk.alert()

    def cards() -> list[dict[str, object]]:
        return [m for m in fake.channel_messages(w.approvals) if m.get("embeds")]

    # Both legs waiting: the first leg's card lists both accounts and offers the select menu.
    await fake.wait_for(
        lambda: any(f"sd:accounts:{sid}" in fake.custom_ids(m) for m in cards()),
        within=15,
    )
    [card] = cards()
    mid = int(card["id"])  # type: ignore[call-overload]
    text = embed_text(card)
    assert f"#{sid} SA40_RSI_Bot on Herenya, Paper" in text
    assert "Herenya" in text and "Paper" in text and "AT RISK" in text
    assert fake.custom_ids(card) == [f"sd:approve:{sid}", f"sd:edit:{sid}", f"sd:reject:{sid}", f"sd:accounts:{sid}"]

    picked = await fake.select(mid, f"sd:accounts:{sid}", w.alice, ["Herenya"])
    reply = await picked.reply()
    assert is_ephemeral(reply) and reply["content"].startswith("✅ Herenya: "), reply["content"]
    assert f"Paper: signal #{sid + 1} rejected by alice" in reply["content"]

    await fake.wait_for(lambda: desk.orders(sid), within=15)
    async with desk.app.database.uow(read_only=True) as uow:
        paper_leg = await uow.signals.get(sid + 1)
        approval = await uow.approvals.get(sid + 1)
    assert paper_leg is not None and approval is not None
    assert (paper_leg.state, paper_leg.reason) == (SignalState.REJECTED, "not approved for account Paper")
    assert approval.decided_by_name == "alice"
    [order] = desk.orders(sid)
    assert (order["side"], order["quantity"]) == ("BUY", 1)
    assert len([o for o in desk.sim.state.book()["orders"]]) == 1  # one order in all
    # Still one card, now saying where each account ended; no card of the Paper leg's own.
    await fake.wait_for(lambda: "rejected" in embed_text(fake.messages[mid]).lower(), within=15)
    assert len(cards()) == 1 and fake.messages[mid]["components"] == []


async def test_the_edit_modal_takes_each_accounts_quantity_and_approve_orders_them(desk: DeskWorld) -> None:
    w = desk.world
    fake = w.discord
    sid = await desk.alert()
    await fake.wait_for(
        lambda: any(f"sd:accounts:{sid}" in fake.custom_ids(m) for m in fake.channel_messages(w.approvals)),
        within=15,
    )
    [card] = [m for m in fake.channel_messages(w.approvals) if m.get("embeds")]
    mid = int(card["id"])
    opened = await fake.click(mid, f"sd:edit:{sid}", w.alice)
    bad = await fake.submit_modal(opened, w.alice, {"quantity": "Herenya=2 demo=1"})
    assert (await bad.reply())["content"].startswith("⛔ Quantity: write each account's as account=contracts")
    opened = await fake.click(mid, f"sd:edit:{sid}", w.alice)
    edited = await fake.submit_modal(opened, w.alice, {"quantity": "Herenya=2 Paper=3"})
    assert (await edited.reply())["content"].startswith("✅ Herenya: signal #")
    async with desk.app.database.uow(read_only=True) as uow:
        quantities = [(await uow.signals.get(i, history=False)).edits for i in (sid, sid + 1)]  # type: ignore[union-attr]
    assert [e.quantity if e else None for e in quantities] == [2, 3]
    approved = await fake.click(mid, f"sd:approve:{sid}", w.bob)
    assert (await approved.reply())["content"].startswith("✅ Herenya: ")
    await fake.wait_for(lambda: desk.orders(sid), within=15)
    [order] = desk.orders(sid)
    assert order["quantity"] == 2
