"""A trailing stop in the real `signaldesk serve` against the Herenya simulator: it starts at
the entry, ratchets up with the bid (and holds when the bid falls back), and a bid through it
closes the position once, at the simulator's price."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.procs import Processes, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

KEY = "trailing_key_0001"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def test_a_trail_ratchets_then_closes(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"}))
    sim.set_quote("SA40", "53210", "53211")
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}", sim, MONITOR_INTERVAL_SECONDS="0.2")
    bot = {
        "bot_name": "Trailer",
        "symbol": "SA40",
        "broker_account": "Herenya",
        "mode": "auto",
        "trailing_stop_pct": "1",
        "webhook_key": KEY,
    }
    procs.import_bots(env, [bot])
    serve = procs.serve(env)

    answer = serve.webhook(KEY, {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso()})
    assert answer.status_code == 200, answer.text
    assert serve.wait_state(answer.json()["signal_id"], {"executed", "refused", "failed"}, 15.0)["state"] == "executed"

    def stop() -> Decimal | None:
        open_ = [p for p in serve.positions() if p["quantity"]]
        return Decimal(open_[0]["stop_loss"]) if open_ and open_[0]["stop_loss"] is not None else None

    assert stop() == Decimal("52678.5")  # 1% under the fill at the ask (53,211), down to the 0.5 tick
    sim.set_quote("SA40", "54000", "54001")
    wait_until(lambda: stop() == Decimal(53460), 10.0, "the trail to follow the bid to 54,000")
    sim.set_quote("SA40", "54500", "54501")
    wait_until(lambda: stop() == Decimal(53955), 10.0, "the trail to follow the bid to 54,500")
    sim.set_quote("SA40", "54100", "54101")  # back, above the stop: nothing moves, nothing closes
    time.sleep(1.2)  # six monitor passes at the lower bid: nothing more may happen
    assert len(serve.signals()) == 1 and stop() == Decimal(53955)

    sim.set_quote("SA40", "53900", "53901")  # through the trail
    wait_until(lambda: not sim.positions(), 10.0, "the monitor to close at the trail")
    wait_until(lambda: serve.trades(), 10.0, "the trade to be recorded")
    (trade,) = serve.trades()
    assert (Decimal(trade["entry_price"]), Decimal(trade["exit_price"])) == (Decimal(53211), Decimal(53900))
    assert Decimal(trade["realized_pnl"]) == Decimal(689)
    closes = [s for s in serve.signals() if s["source"] == "monitor"]
    assert [s["state"] for s in closes] == ["executed"]
