"""The mismatch message's Adopt / Flatten buttons in the real `signaldesk serve` process,
against the loopback fake Discord and the Herenya simulator: the position changed behind
signaldesk's back, the error channel's message carries the buttons, a non-approver is
refused, an approver confirms, and the bot's position and flag are repaired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fake_discord import FakeDiscord, Member, is_ephemeral
from tests.e2e.procs import Serve, Simulator, processes, sim_config
from tests.e2e.test_repair import BOT, bot, entry, held, trade_behind_our_back
from trading.domain.values import OrderSide

pytestmark = pytest.mark.slow


class World:
    def __init__(self, fake: FakeDiscord, sim: Simulator, serve: Serve, errors: int, alice: Member, bob: Member):
        self.fake, self.sim, self.serve, self.errors, self.alice, self.bob = fake, sim, serve, errors, alice, bob

    async def mismatch_message(self, action: str) -> dict[str, Any]:
        wanted = f"sd:repair:{action}:{BOT['bot_name']}"
        return await self.fake.wait_for(
            lambda: next(
                (m for m in reversed(self.fake.channel_messages(self.errors)) if wanted in self.fake.custom_ids(m)),
                None,
            ),
            within=20,
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    fake = FakeDiscord()
    approvals = fake.add_channel("approvals")
    log = fake.add_channel("signaldesk-log")
    errors = fake.add_channel("signaldesk-errors")
    trader = fake.add_role("trader")
    alice = fake.add_member("alice", (trader,))
    bob = fake.add_member("bob")
    async with fake:
        with processes(tmp_path) as procs:
            sim = await asyncio.to_thread(
                procs.simulator, config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"})
            )
            env = procs.serve_env(
                f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}",
                sim,
                RECONCILE_INTERVAL_SECONDS="0.5",
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
            yield World(fake, sim, serve, errors, alice, bob)


async def confirm(world: World, message: dict[str, Any], action: str, member: Member) -> dict[str, Any]:
    """Click the button, confirm the question; the question as finally edited."""
    click = await world.fake.click(int(message["id"]), f"sd:repair:{action}:{BOT['bot_name']}", member)
    question = await click.reply(10)
    assert not is_ephemeral(question)
    confirm_id, _cancel_id = world.fake.custom_ids(question)
    mid = int(question["id"])
    await world.fake.click(mid, confirm_id, member)
    return await world.fake.wait_for(
        lambda: (m := world.fake.messages[mid]) and m["content"][:1] in ("✅", "⛔", "⚠") and m, within=20
    )


async def test_adopt_and_flatten_buttons_repair_the_mismatch(world: World) -> None:
    assert (await asyncio.to_thread(entry, world.serve, 1))["state"] == "executed"
    await asyncio.to_thread(trade_behind_our_back, world.sim, OrderSide.BUY, 2)
    message = await world.mismatch_message("adopt")
    assert "signaldesk holds +1, the broker says +3" in message["content"]
    assert world.fake.custom_ids(message)[:2] == [
        f"sd:repair:adopt:{BOT['bot_name']}",
        f"sd:repair:flatten:{BOT['bot_name']}",
    ]

    # Not an approver: refused, privately, without a question; nothing changes.
    refused = await world.fake.click(int(message["id"]), f"sd:repair:adopt:{BOT['bot_name']}", world.bob)
    reply = await refused.reply(10)
    assert is_ephemeral(reply) and "approvers only" in reply["content"]
    assert (await asyncio.to_thread(bot, world.serve))["needs_attention"]

    done = await confirm(world, message, "adopt", world.alice)
    assert done["content"].startswith("✅ RepairBot adopted Herenya's SA40: it now holds +3"), done["content"]
    assert done["components"] == []
    assert await asyncio.to_thread(held, world.serve) == 3
    assert not (await asyncio.to_thread(bot, world.serve))["needs_attention"]
    assert world.sim.positions() == {"SA40": 3}

    # Flatten from the next mismatch's message.
    before = len(world.fake.channel_messages(world.errors))
    await asyncio.to_thread(trade_behind_our_back, world.sim, OrderSide.SELL, 1)
    await world.fake.wait_for(lambda: len(world.fake.channel_messages(world.errors)) > before, within=20)
    message = await world.mismatch_message("flatten")
    assert "signaldesk holds +3, the broker says +2" in message["content"]
    done = await confirm(world, message, "flatten", world.alice)
    assert done["content"].startswith("✅ flattening SA40 (+2 at Herenya)"), done["content"]
    await world.fake.wait_for(lambda: not world.sim.positions(), within=20)
    await world.fake.wait_for(lambda: held(world.serve) == 0, within=20)
    assert not (await asyncio.to_thread(bot, world.serve))["needs_attention"]
    assert all(i.latency is not None and i.latency < 3 for i in world.fake.interactions.values())
