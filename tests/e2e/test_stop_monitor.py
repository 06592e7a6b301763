"""The stop-loss / take-profit monitor in the real process: open a position through a
webhook, move the simulator's quote near the level (nothing happens), then through it —
exactly one close, at the simulator's price, with the realized P&L its fills give."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.procs import Processes, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

BID, ASK = Decimal("53210"), Decimal("53211")
MONITOR_INTERVAL = 0.2

# (action, level field, level pct, quote short of the level, quote through it)
CASES = {
    "long_stop_loss": ("RSI_LONG_ENTRY", "stop_loss_pct", "1.0", Decimal("52760"), Decimal("52600")),
    "short_take_profit": ("RSI_SHORT_ENTRY", "take_profit_pct", "1.0", Decimal("52760"), Decimal("52600")),
}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


@pytest.mark.parametrize("case", list(CASES))
def test_quote_through_level_closes_once_with_right_pnl(procs: Processes, tmp_path: Path, case: str) -> None:
    action, level_field, pct, near, through = CASES[case]
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": str((BID + ASK) / 2)}))
    sim.set_quote("SA40", str(BID), str(ASK))
    env = procs.serve_env(
        f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}", sim, MONITOR_INTERVAL_SECONDS=str(MONITOR_INTERVAL)
    )
    bot = {
        "bot_name": "StopBot",
        "symbol": "SA40",
        "broker_account": "Herenya",
        "mode": "auto",
        "base_position_size": 3,
        level_field: pct,
        "webhook_key": "stop_bot_key_0001",
    }
    procs.import_bots(env, [bot])
    serve = procs.serve(env)

    answer = serve.webhook(bot["webhook_key"], {"action": action, "price": str((BID + ASK) / 2), "time": now_iso()})
    assert answer.status_code == 200, answer.text
    opened = serve.wait_state(answer.json()["signal_id"], {"executed", "failed", "refused", "ignored"}, 15.0)
    assert opened["state"] == "executed", opened
    (entry,) = sim.book()
    long = action == "RSI_LONG_ENTRY"
    entry_price = Decimal(entry["average_fill_price"])
    assert entry_price == (ASK if long else BID)

    (position,) = serve.positions()
    level = Decimal(position["stop_loss"] if long else position["take_profit"])
    assert through < level < near  # the case's quotes straddle the level
    assert level == pytest.approx(entry_price * (1 - Decimal(pct) / 100), abs=Decimal("0.5"))

    # Near the level but not through it: several monitor passes, no close.
    sim.set_quote("SA40", str(near), str(near + 1))
    time.sleep(MONITOR_INTERVAL * 6)
    assert len(sim.book()) == 1 and len(serve.signals()) == 1
    assert sim.positions() == {"SA40": 3 if long else -3}

    # Through it: one close signal from the monitor, one order, one trade.
    sim.set_quote("SA40", str(through), str(through + 1))
    wait_until(lambda: not sim.positions(), 10.0, "the monitor to close the position")
    wait_until(lambda: serve.trades(), 10.0, "the closed trade to be recorded")
    time.sleep(MONITOR_INTERVAL * 6)  # more monitor passes at the same quote: nothing more may happen

    book = sim.book()
    assert len(book) == 2, book
    exit_ = book[1]
    assert exit_["side"] == ("SELL" if long else "BUY") and exit_["quantity"] == 3 and exit_["status"] == "FILLED"
    signals = serve.signals()
    assert len(signals) == 2, signals
    close = next(s for s in signals if s["id"] != opened["id"])
    assert close["state"] == "executed", close
    assert exit_["client_order_id"] == f"sd-{close['id']}-1"

    (trade,) = serve.trades()
    exit_price = Decimal(exit_["average_fill_price"])
    assert exit_price == (through if long else through + 1)
    expected = (exit_price - entry_price) * 3 * (1 if long else -1)
    assert trade["signal_id"] == close["id"]
    assert trade["side"] == ("long" if long else "short") and trade["quantity"] == 3
    assert Decimal(trade["entry_price"]) == entry_price and Decimal(trade["exit_price"]) == exit_price
    assert Decimal(trade["realized_pnl"]) == expected
    assert trade["position_closed"] is True
    assert not [p for p in serve.positions() if p["quantity"]]
