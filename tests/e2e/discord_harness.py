"""The fake Discord, a guild with roles, channels and members, and the real client started
through bot.discord.runtime against a given Desk, as one object for the tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from bot.discord.runtime import DiscordRuntime, start_discord
from bot.settings import Settings
from brokers.herenya.sim_config import SimConfig
from brokers.herenya.sim_server import RunningSimulator, running_simulator
from brokers.herenya.sim_state import SimState
from tests.e2e.fake_desk import FakeDesk
from tests.e2e.fake_discord import FIRST_RESPONSE_LIMIT, FakeDiscord, Member, embed_text
from trading.domain.config import BotConfig
from trading.services.clock import SystemClock
from trading.services.ports import Clock
from trading.services.use_cases import UseCases

if TYPE_CHECKING:
    from bot.app import App

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
    call_role: int = 0  # DISCORD_APPROVAL_MENTION_ROLE_ID: pinged by new cards and reminders

    async def start(
        self, use_cases: UseCases, *, batch_window: float = 0.2, clock: Clock | None = None
    ) -> DiscordRuntime:
        runtime = await start_discord(self.settings, use_cases, clock or SystemClock(), batch_window=batch_window)
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
    call_role = fake.add_role("approvers-on-duty", mentionable=True)
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
            discord_approval_mention_role_id=call_role,
            discord_api_base_url=fake.api_base,
            discord_gateway_url=fake.gateway_url,
            discord_guild_ready_timeout=0.05,
        )
        yield World(fake, settings, approvals, log, errors, trader, error_role, alice, bob, carol, mallory, call_role)


@asynccontextmanager
async def timed_discord_world() -> AsyncIterator[World]:
    """discord_world, then Discord's rule checked for every interaction a test injected:
    a first response, within 3 s."""
    async with discord_world() as w:
        yield w
        for rec in w.discord.interactions.values():
            assert rec.latency is not None, f"{rec.label} got no first response"
            assert rec.latency < FIRST_RESPONSE_LIMIT, f"{rec.label} answered after {rec.latency:.2f}s"
        assert not w.discord.late_first_responses


@asynccontextmanager
async def fake_desk_runtime(world: World, desk: FakeDesk, clock: Clock | None = None) -> AsyncIterator[DiscordRuntime]:
    """The real client started against a FakeDesk, which posts through the client's sink."""
    runtime = await world.start(desk.use_cases(), clock=clock)
    desk.notifier = runtime.sink
    try:
        yield runtime
    finally:
        await runtime.close()


# ---------------------------------------------------------------------- the real desk


class ShiftableClock:
    """The system clock, moved forward on demand (to reach an approval's expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def sa40_bot(**over: object) -> BotConfig:
    fields: dict[str, object] = {
        "bot_name": "SA40_RSI_Bot",
        "broker_account": "Herenya",
        "symbol": "SA40",
        "mode": "approve",
        "base_position_size": 1,
        "max_positions": 3,
        "allow_pyramiding": True,
        "stop_loss_pct": Decimal("1.5"),
        "take_profit_pct": Decimal("3.0"),
        "webhook_key": BOT_KEY,
        "approval_timeout_minutes": 15,
    }
    return BotConfig.parse(fields | over)


BOT_KEY = "sa40_rsi_50849a3c"


@dataclass
class DeskWorld:
    """The real process's parts (bot.app.build/start) on this loop: real use cases, SQLite,
    runner, event bus, the Herenya client against the simulator, the Discord runtime
    against the fake Discord; alerts go in through the real webhook route."""

    world: World
    app: App
    sim: RunningSimulator
    clock: ShiftableClock

    async def alert(self, action: str = "RSI_LONG_ENTRY", price: str = "53210.5") -> int:
        body = {"action": action, "price": price, "time": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        response = await self.app.web.test_client().post(f"/webhook/{BOT_KEY}", data=json.dumps(body).encode())
        answer = await response.get_json()
        assert response.status_code == 200, answer
        return int(answer["signal_id"])

    def orders(self, signal_id: int) -> list[dict[str, Any]]:
        prefix = f"sd-{signal_id}-"
        return [o for o in self.sim.state.book()["orders"] if o["client_order_id"].startswith(prefix)]


@asynccontextmanager
async def desk_world(
    world: World, db_path: Path, *, sim_state: SimState | None = None, **bot_over: object
) -> AsyncIterator[DeskWorld]:
    import bot.app as app_module

    clock = ShiftableClock()
    state = sim_state or SimState(SimConfig(seed=7, quote_step_seconds=0))
    async with running_simulator(state=state) as sim:
        settings = world.settings.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{db_path}",
                "herenya_api_key": SecretStr("test-key"),
                "herenya_api_secret": SecretStr("test-secret"),
                "herenya_base_url": sim.base_url,
                "herenya_account_id": "A1",
                "monitor_interval_seconds": 3600.0,
                "reconcile_interval_seconds": 3600.0,
            }
        )
        original_clock = app_module.SystemClock
        app_module.SystemClock = lambda: clock  # type: ignore[assignment,misc,return-value]
        try:
            app = app_module.build(settings)
        finally:
            app_module.SystemClock = original_clock  # type: ignore[misc]
        await app.database.upgrade()
        async with app.database.uow() as uow:
            await uow.bots.upsert(sa40_bot(**bot_over))
            await uow.commit()
        await app_module.start(app)
        try:
            if app.discord is None or not await app.discord.wait_ready(10):
                raise AssertionError("the desk's Discord client did not connect to the fake Discord")
            yield DeskWorld(world, app, sim, clock)
        finally:
            await app_module.stop(app, grace=5.0)


async def card_for(d: DeskWorld, signal_id: int) -> int:
    """The id of signal `signal_id`'s card in the approvals channel, once it is posted."""
    fake, channel = d.world.discord, d.world.approvals

    def find() -> list[dict[str, object]]:
        return [m for m in fake.channel_messages(channel) if f"#{signal_id} " in embed_text(m)]

    [msg] = await fake.wait_for(find, within=10)
    return int(msg["id"])  # type: ignore[call-overload]
