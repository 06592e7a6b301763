"""The real `signaldesk serve` process against the loopback fake Discord and the Herenya
simulator: a card posted for an approve-mode alert, a non-approver refused, an approver's
click giving exactly one order and an edited card, and a card posted before a SIGKILL
restart still working after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fake_discord import FakeDiscord, Member
from tests.e2e.procs import Processes, Serve, Simulator, now_iso, processes, sim_config

pytestmark = pytest.mark.slow

BOT = {
    "bot_name": "DiscordApprove",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "approve",
    "webhook_key": "discord_proc_key_01",
    "max_slippage_pct": "0.5",
}


class World:
    def __init__(self, fake: FakeDiscord, procs: Processes, sim: Simulator, env: dict[str, str]) -> None:
        self.fake, self.procs, self.sim, self.env = fake, procs, sim, env
        self.approvals = int(env["DISCORD_APPROVALS_CHANNEL_ID"])
        self.log = int(env["DISCORD_LOG_CHANNEL_ID"])
        self.alice: Member = fake.members[int(env["ALICE"])]
        self.bob: Member = fake.members[int(env["BOB"])]
        self.serve: Serve | None = None

    async def start_serve(self) -> Serve:
        identified = self.fake.identifies
        # blocking helpers run in a thread: this loop serves the fake Discord meanwhile
        self.serve = await asyncio.to_thread(self.procs.serve, self.env)
        await self.fake.wait_for(lambda: self.fake.identifies > identified, within=20)
        return self.serve

    async def alert(self, n: int) -> int:
        assert self.serve is not None
        body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "id": f"proc-{n}"}
        answer = await asyncio.to_thread(self.serve.webhook, BOT["webhook_key"], body)
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

    def orders(self) -> list[dict[str, Any]]:
        return self.sim.book()


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
            yield World(fake, procs, sim, {**env, "ALICE": str(alice.id), "BOB": str(bob.id)})


async def test_the_real_process_posts_a_card_and_an_approver_gets_one_order(world: World) -> None:
    await world.start_serve()
    sid = await world.alert(1)
    card = await world.card(sid)
    assert world.orders() == []

    refused = await world.fake.click(int(card["id"]), f"sd:approve:{sid}", world.bob)
    assert "approvers only" in str(await refused.reply(10))
    await asyncio.sleep(0.5)
    assert world.orders() == []

    await world.fake.click(int(card["id"]), f"sd:approve:{sid}", world.alice)
    await world.fake.wait_for(lambda: len(world.orders()) == 1, within=15)
    (order,) = world.orders()
    assert (order["client_order_id"], order["side"], order["quantity"]) == (f"sd-{sid}-1", "BUY", 1)
    assert world.serve is not None
    await asyncio.to_thread(world.serve.wait_state, sid, {"executed"}, 15)
    # the card is edited in place: its buttons are gone once decided
    edited = await world.fake.wait_for(
        lambda: (m := world.fake.messages[int(card["id"])]) and not world.fake.custom_ids(m) and m, within=15
    )
    assert "alice" in str(edited) or str(world.alice.id) in str(edited)
    assert all(i.latency is not None and i.latency < 3 for i in world.fake.interactions.values())


async def test_a_card_posted_before_a_sigkill_restart_still_works(world: World) -> None:
    serve = await world.start_serve()
    sid = await world.alert(2)
    card = await world.card(sid)
    serve_proc = world.procs._started[-1]
    serve_proc.kill()  # SIGKILL: no goodbye to Discord, nothing flushed
    await world.start_serve()
    await world.fake.click(int(card["id"]), f"sd:approve:{sid}", world.alice)
    await world.fake.wait_for(lambda: len(world.orders()) == 1, within=20)
    assert world.serve is not None and world.serve is not serve
    await asyncio.to_thread(world.serve.wait_state, sid, {"executed"}, 15)
    # one card only: the restart did not post it again (interaction replies are not channel posts)
    assert len(world.fake.calls_to("POST", rf"/channels/{world.approvals}/messages$")) == 1


def log_lines(world: World) -> str:
    return "\n".join(m["content"] for m in world.fake.channel_messages(world.log))


async def test_start_and_stop_notices_reach_the_log_channel(world: World) -> None:
    serve = await world.start_serve()
    started = await world.fake.wait_for(lambda: "signaldesk " in log_lines(world) and log_lines(world), within=20)
    db_path = world.env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    assert "🟢" in started and " started: 1 bot: DiscordApprove (approve, Herenya); broker Herenya; " in started
    assert f"database sqlite ({db_path})" in started
    assert "signaldesk 0." in started  # the installed version

    sid = await world.alert(3)
    await world.card(sid)  # a card left waiting at the stop
    # SIGTERM, in a thread: this loop serves the fake Discord the stopping process talks to.
    code = await asyncio.to_thread(serve.process.terminate, 20)
    assert code == 0, serve.process.output()
    stopped = await world.fake.wait_for(lambda: "stopping" in log_lines(world) and log_lines(world), within=20)
    assert "🔴" in stopped
    assert "signaldesk stopping: nothing left in flight; 1 card(s) still await approval" in stopped
