"""The fake Discord, a guild with roles, channels and members, and the real client started
through bot.discord.runtime against a given Desk, as one object for the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.discord.runtime import DiscordRuntime, start_discord
from bot.settings import Settings
from tests.e2e.fake_discord import FakeDiscord, Member
from trading.desk import DeskAPI

TOKEN = "fake-token.Zm9vYmFy.never-in-a-log"


@dataclass
class World:
    discord: FakeDiscord
    settings: Settings
    approvals: int
    log: int
    errors: int
    trader_role: int
    error_role: int
    alice: Member  # approver by role
    bob: Member  # approver by role
    carol: Member  # approver by user id, no role
    mallory: Member  # no approver role

    async def start(self, desk: DeskAPI, *, batch_window: float = 0.2) -> DiscordRuntime:
        runtime = await start_discord(self.settings, desk, batch_window=batch_window)
        if not await runtime.wait_ready(10):
            await runtime.close()
            raise AssertionError("the client did not connect to the fake Discord")
        return runtime


@asynccontextmanager
async def discord_world() -> AsyncIterator[World]:
    fake = FakeDiscord()
    approvals = fake.add_channel("approvals")
    log = fake.add_channel("signaldesk-log")
    errors = fake.add_channel("signaldesk-errors")
    fake.add_channel("general")
    trader = fake.add_role("trader")
    error_role = fake.add_role("on-call")
    other = fake.add_role("viewer")
    alice = fake.add_member("alice", (trader,))
    bob = fake.add_member("bob", (other, trader))
    carol = fake.add_member("carol")
    mallory = fake.add_member("mallory", (other,))
    async with fake:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            discord_token=TOKEN,
            discord_guild_id=fake.guild_id,
            discord_approvals_channel_id=approvals,
            discord_log_channel_id=log,
            discord_error_channel_id=errors,
            discord_approver_role_ids=str(trader),
            discord_approver_user_ids=str(carol.id),
            discord_error_mention_role_id=error_role,
            discord_api_base_url=fake.api_base,
            discord_gateway_url=fake.gateway_url,
            discord_guild_ready_timeout=0.05,
        )
        yield World(fake, settings, approvals, log, errors, trader, error_role, alice, bob, carol, mallory)
