"""Three `signaldesk serve` processes on one PostgreSQL database with the loopback fake
Discord and the Herenya simulator: the leader posts the cards of signals stored by any
process (only the leader talks to Discord), each once; a card posted before the leader's
kill -9 is approved after it, through the new leader, and executes once; the log channel
is told who leads now."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_postgres_database, postgres_server_url
from tests.e2e.fake_discord import FakeDiscord, Member
from tests.e2e.procs import Serve, Simulator, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

BOT = {
    "bot_name": "ClusterApprove",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "approve",
    "webhook_key": "cluster_approve_key_01",
    "max_slippage_pct": "0.5",
}


class Desk:
    """The fake Discord, the simulator and three serves, the first of which leads."""

    def __init__(self, fake: FakeDiscord, sim: Simulator, serves: list[Serve], approvals: int, log: int) -> None:
        self.fake, self.sim, self.serves = fake, sim, serves
        self.approvals, self.log = approvals, log

    async def alert(self, serve: Serve, n: int) -> int:
        body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "id": f"cluster-card-{n}"}
        answer = await asyncio.to_thread(serve.webhook, BOT["webhook_key"], body)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["signal_id"])

    async def card(self, signal_id: int, within: float = 15) -> dict[str, Any]:
        button = f"sd:approve:{signal_id}"
        return await self.fake.wait_for(
            lambda: next(
                (m for m in self.fake.channel_messages(self.approvals) if button in self.fake.custom_ids(m)), None
            ),
            within=within,
        )

    def log_text(self) -> str:
        return "\n".join(m["content"] for m in self.fake.channel_messages(self.log))


def cluster(serve: Serve) -> dict[str, Any]:
    return dict(serve.http.get("/health").json()["cluster"])


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[Desk, Member]]:
    fake = FakeDiscord()
    approvals = fake.add_channel("approvals")
    log = fake.add_channel("signaldesk-log")
    errors = fake.add_channel("signaldesk-errors")
    trader = fake.add_role("trader")
    alice = fake.add_member("alice", (trader,))
    async with fake, fresh_postgres_database(postgres_server_url()) as url:
        with processes(tmp_path) as procs:
            sim = await asyncio.to_thread(
                procs.simulator, config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"})
            )
            env = procs.serve_env(
                url,
                sim,
                CLUSTER_RETRY_SECONDS="1",
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
            leader = await asyncio.to_thread(procs.serve, env)
            await fake.wait_for(lambda: fake.identifies == 1, within=20)
            followers = await asyncio.gather(*(asyncio.to_thread(procs.serve, env) for _ in range(2)))
            yield Desk(fake, sim, [leader, *followers], approvals, log), alice


async def test_the_leader_posts_cards_of_every_process_and_a_card_outlives_the_leader(
    desk: tuple[Desk, Member],
) -> None:
    d, alice = desk
    leader, one, two = d.serves
    views = [await asyncio.to_thread(cluster, s) for s in d.serves]
    assert [v["leader"] for v in views] == [True, False, False]
    assert {v["members"] for v in views} == {3}

    # Alerts taken by the followers: their lanes may run anywhere; only the leader talks to Discord.
    first = await d.alert(one, 1)
    second = await d.alert(two, 2)
    card = await d.card(first)
    await d.card(second)
    assert d.fake.identifies == 1  # the followers never connected
    assert d.sim.book() == []

    killed_at = time.monotonic()
    await asyncio.to_thread(leader.process.kill)  # kill -9: the gateway connection just drops
    survivors = [one, two]
    new_leader = await asyncio.to_thread(
        wait_until,
        lambda: next((s for s in survivors if cluster(s)["leader"]), None),
        15,
        "a surviving process to lead",
    )
    took = time.monotonic() - killed_at
    assert took < 15
    await d.fake.wait_for(lambda: d.fake.identifies == 2, within=20)  # the new leader's Discord
    notice = await d.fake.wait_for(lambda: "leads the desk now" in d.log_text() and d.log_text(), within=15)
    assert f"{cluster(new_leader)['process']} leads the desk now (1 other process running)" in notice

    # The card posted by the dead leader: its buttons go on working through the new one.
    await d.fake.click(int(card["id"]), f"sd:approve:{first}", alice)
    await asyncio.to_thread(new_leader.wait_state, first, {"executed"}, 20)
    # A card for an alert taken after the failover, by the process that does not lead.
    other = next(s for s in survivors if s is not new_leader)
    third = await d.alert(other, 3)
    await d.card(third)

    await asyncio.sleep(1.5)  # several feed reads later: nothing posted twice, nothing sent twice
    # One card per signal. A leader killed between posting a card and recording it leaves
    # the new leader to post it again, with the same nonce: Discord (and the fake) keep one.
    cards = [m for m in d.fake.channel_messages(d.approvals) if m.get("embeds")]  # not interaction replies
    titles = sorted(m["embeds"][0]["title"].split(" ")[0] for m in cards)
    assert titles == sorted(f"#{sid}" for sid in (first, second, third))
    assert {c.body["nonce"] for c in d.fake.calls_to("POST", rf"/channels/{d.approvals}/messages$")} == {
        f"sdcard{sid}" for sid in (first, second, third)
    }
    assert [o["client_order_id"] for o in d.sim.book()] == [f"sd-{first}-1"]
    assert (await asyncio.to_thread(other.signal, second))["state"] == "pending_approval"
