"""The real `signaldesk serve` with one approve-mode bot, the loopback fake Discord and the
Herenya simulator: what the approval e2e tests of issue 29 share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.e2e.fake_discord import FakeDiscord, Member
from tests.e2e.procs import Serve, now_iso, processes, sim_config


class World:
    def __init__(
        self, fake: FakeDiscord, serve: Serve, sim: Any, approvals: int, log: int, alice: Member, key: str
    ) -> None:
        self.fake, self.serve, self.sim = fake, serve, sim
        self.approvals, self.log, self.alice = approvals, log, alice
        self.key = key
        self.n = 0

    async def alert(self, action: str) -> int:
        self.n += 1
        body = {"action": action, "price": "53210.5", "time": now_iso(), "id": f"alert-{self.n}"}
        answer = await asyncio.to_thread(self.serve.webhook, self.key, body)
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


@asynccontextmanager
async def approval_world(
    tmp_path: Path, bot: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> AsyncIterator[World]:
    """`bot` (an approve-mode bot on Herenya, SA40 quoted at 53,210.5) served for the test;
    `env`: more settings for serve."""
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
                **(env or {}),
            )
            await asyncio.to_thread(procs.import_bots, env, [dict(bot)])
            serve = await asyncio.to_thread(procs.serve, env)
            await fake.wait_for(lambda: fake.identifies > 0, within=20)
            yield World(fake, serve, sim, approvals, log, alice, str(bot["webhook_key"]))
