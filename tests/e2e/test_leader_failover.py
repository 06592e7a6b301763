"""Two `signaldesk serve` processes on one PostgreSQL database: one leads; kill -9 the
leader and the other takes over within 15 s (/health says so, the log says so) and goes on
executing alerts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_postgres_database, postgres_server_url
from tests.e2e.procs import Processes, Serve, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

BOT = {
    "bot_name": "FailoverAuto",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "auto",
    "webhook_key": "failover_auto_key_01",
}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_server_url()) as url:
        yield url


def cluster(serve: Serve) -> dict[str, Any]:
    return dict(serve.http.get("/health").json()["cluster"])


def alert(n: int, action: str = "RSI_LONG_ENTRY") -> dict[str, str]:
    return {"action": action, "price": "53210.5", "time": now_iso(), "id": f"failover-{n}"}


async def test_the_leader_killed_another_process_leads_within_15_s_and_trades(
    procs: Processes, tmp_path: Path, pg_url: str
) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"}))
    env = procs.serve_env(pg_url, sim, CLUSTER_RETRY_SECONDS="1")
    procs.import_bots(env, [BOT])
    first = procs.serve(env)
    second = procs.serve(env)

    assert cluster(first)["leader"] is True
    view = cluster(second)
    assert (view["leader"], view["members"], view["led_by"]) == (False, 2, cluster(first)["process"])
    before = second.webhook(BOT["webhook_key"], alert(1)).json()  # a follower takes webhooks and trades
    assert second.wait_state(before["signal_id"], {"executed"}, 20)["state"] == "executed"

    killed_at = time.monotonic()
    first.process.kill()  # kill -9
    wait_until(lambda: cluster(second)["leader"] or None, 15, "the second process to lead")
    took = time.monotonic() - killed_at
    assert took < 15
    assert cluster(second)["members"] == 1
    assert "leads the desk now" in second.process.output(200_000)

    accepted = second.webhook(BOT["webhook_key"], alert(2, "RSI_CLOSE_LONG")).json()
    assert second.wait_state(accepted["signal_id"], {"executed"}, 20)["state"] == "executed"
    assert sorted(o["client_order_id"] for o in sim.book()) == sorted(
        f"sd-{sid}-1" for sid in (before["signal_id"], accepted["signal_id"])
    )
