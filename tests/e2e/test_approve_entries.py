"""`approve = "entries"` in the real `signaldesk serve` against the loopback fake Discord and
the Herenya simulator: a reversal closes the open long at once, while only its new entry
waits on a card that says so; a plain close then runs without a card."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fake_discord import FakeDiscord, Member, embed_text
from tests.e2e.procs import Serve, now_iso, processes, sim_config

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


class World:
    def __init__(self, fake: FakeDiscord, serve: Serve, sim: Any, approvals: int, log: int, alice: Member) -> None:
        self.fake, self.serve, self.sim = fake, serve, sim
        self.approvals, self.log, self.alice = approvals, log, alice
        self.n = 0

    async def alert(self, action: str) -> int:
        self.n += 1
        body = {"action": action, "price": "53210.5", "time": now_iso(), "id": f"entries-{self.n}"}
        answer = await asyncio.to_thread(self.serve.webhook, KEY, body)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["signal_id"])

    async def card(self, signal_id: int) -> dict[str, Any]:
        button = f"sd:approve:{signal_id}"
        return await self.fake.wait_for(
            lambda: next(
                (m for m in self.fake.channel_messages(self.approvals) if button in self.fake.custom_ids(m)), None
            ),
            within=15,
        )

    async def approve(self, signal_id: int) -> None:
        card = await self.card(signal_id)
        await self.fake.click(int(card["id"]), f"sd:approve:{signal_id}", self.alice)
        await asyncio.to_thread(self.serve.wait_state, signal_id, {"executed"}, 15)

    async def state(self, signal_id: int, *states: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.serve.wait_state, signal_id, set(states), 15)

    def orders(self) -> list[tuple[str, str, int]]:
        return [(o["client_order_id"], o["side"], o["quantity"]) for o in self.sim.book()]

    def cards(self) -> int:
        return len(self.fake.calls_to("POST", rf"^/channels/{self.approvals}/messages$"))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    fake = FakeDiscord()
    approvals = fake.add_channel("approvals")
    log = fake.add_channel("signaldesk-log")
    errors = fake.add_channel("signaldesk-errors")
    trader = fake.add_role("trader")
    alice = fake.add_member("alice", (trader,))
    async with fake:
        with processes(tmp_path) as procs:
            sim = await asyncio.to_thread(
                procs.simulator, config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"})
            )
            env = procs.serve_env(
                f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}",
                sim,
                DISCORD_TOKEN="fake-token-not-a-secret",
                DISCORD_GUILD_ID=str(fake.guild_id),
                DISCORD_APPROVALS_CHANNEL_ID=str(approvals),
                DISCORD_LOG_CHANNEL_ID=str(log),
                DISCORD_ERROR_CHANNEL_ID=str(errors),
                DISCORD_APPROVER_ROLE_IDS=str(trader),
                DISCORD_API_BASE_URL=fake.api_base,
                DISCORD_GATEWAY_URL=fake.gateway_url,
                DISCORD_GUILD_READY_TIMEOUT="0.05",
            )
            await asyncio.to_thread(procs.import_bots, env, [BOT])
            serve = await asyncio.to_thread(procs.serve, env)
            await fake.wait_for(lambda: fake.identifies > 0, within=20)
            yield World(fake, serve, sim, approvals, log, alice)


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
