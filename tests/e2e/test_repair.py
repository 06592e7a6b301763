"""Repairing a mismatch and seeing an exit through, in the real process against the
Herenya simulator: the position changed behind signaldesk's back (an order placed at the
broker directly), found by the periodic reconciliation, then adopted or flattened through
POST /api/bots/<name>/reconcile; and a stop whose close the broker refuses (market closed)
tried again until the position is flat, with the error feed told."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from brokers.herenya.client import HerenyaClient
from tests.e2e.procs import (
    SIM_ACCOUNT,
    SIM_KEY,
    SIM_SECRET,
    Processes,
    Serve,
    Simulator,
    now_iso,
    processes,
    sim_config,
    wait_until,
)
from trading.domain.market import OrderRequest
from trading.domain.values import OrderSide

pytestmark = pytest.mark.slow

PRICE = "53210.5"
BOT = {
    "bot_name": "RepairBot",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "auto",
    "webhook_key": "repair_bot_key_0001",
    "max_slippage_pct": "0.5",
    "allow_pyramiding": True,
    "max_positions": 5,
}
_outside = itertools.count(1)


def trade_behind_our_back(sim: Simulator, side: OrderSide, quantity: int) -> None:
    """An order placed at the broker by someone else (its own client id, not ours)."""

    async def place() -> None:
        client = HerenyaClient(api_key=SIM_KEY, api_secret=SIM_SECRET, base_url=sim.base_url, account_id=SIM_ACCOUNT)
        try:
            await client.place_order(OrderRequest(f"manual-{next(_outside)}", "SA40", side, quantity))
        finally:
            await client.aclose()

    asyncio.run(place())


def bot(serve: Serve) -> dict[str, Any]:
    bots = serve.api("GET", "/bots").raise_for_status().json()["bots"]
    return dict(next(b for b in bots if b["bot_name"] == BOT["bot_name"]))


def held(serve: Serve) -> int:
    return sum(p["quantity"] * (1 if p["side"] == "long" else -1) for p in serve.positions() if p["quantity"])


def entry(serve: Serve, n: int) -> dict[str, Any]:
    body = {"action": "RSI_LONG_ENTRY", "price": PRICE, "time": now_iso(), "id": f"repair-{n}"}
    answer = serve.webhook(str(BOT["webhook_key"]), body)
    assert answer.status_code == 200, answer.text
    return serve.wait_state(answer.json()["signal_id"], {"executed", "failed", "refused", "ignored"}, 15.0)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def test_adopt_then_flatten_through_the_api_against_the_simulator(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": PRICE}))
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}", sim, RECONCILE_INTERVAL_SECONDS="0.5")
    procs.import_bots(env, [BOT])
    serve = procs.serve(env)
    assert entry(serve, 1)["state"] == "executed"
    assert sim.positions() == {"SA40": 1}

    # Someone buys 2 more at the broker: the reconciliation flags the bot and entries stop.
    trade_behind_our_back(sim, OrderSide.BUY, 2)
    flagged = wait_until(lambda: (b := bot(serve))["needs_attention"] and b, 10.0, "the bot to be flagged")
    assert flagged["attention_reason"] == "Herenya holds +3 SA40, signaldesk +1"
    refused = entry(serve, 2)
    assert refused["state"] == "refused" and "needs attention" in refused["reason"]
    assert sim.positions() == {"SA40": 3}

    answer = serve.api("POST", f"/bots/{BOT['bot_name']}/reconcile", json={"action": "adopt"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True and "now holds +3" in answer.json()["message"]
    assert held(serve) == 3 and not bot(serve)["needs_attention"]
    time.sleep(1.5)  # several reconciliations later: no mismatch any more
    assert not bot(serve)["needs_attention"]
    assert sim.positions() == {"SA40": 3}  # adopting sends nothing
    again = serve.api("POST", f"/bots/{BOT['bot_name']}/reconcile", json={"action": "adopt"})
    assert (again.status_code, again.json()["code"]) == (409, "no_mismatch")

    # Someone sells 5 at the broker: flatten closes the broker's net through our orders.
    trade_behind_our_back(sim, OrderSide.SELL, 5)
    wait_until(lambda: bot(serve)["needs_attention"], 10.0, "the bot to be flagged again")
    book_before = len(sim.book())
    answer = serve.api("POST", f"/bots/{BOT['bot_name']}/reconcile", json={"action": "flatten"})
    assert answer.status_code == 200, answer.text
    assert "flattening SA40 (-2 at Herenya)" in answer.json()["message"]
    wait_until(lambda: not sim.positions(), 15.0, "the broker's net to be closed")
    wait_until(lambda: held(serve) == 0, 15.0, "every bot to be flat")
    (close,) = sim.book()[book_before:]
    assert (close["side"], close["quantity"], close["status"]) == ("BUY", 2, "FILLED")
    assert close["client_order_id"].startswith("sd-")  # through our own order path
    time.sleep(1.5)
    assert not bot(serve)["needs_attention"]
    assert entry(serve, 3)["state"] == "executed"  # entries flow again


def test_a_refused_stop_close_is_retried_until_flat_and_reported(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": PRICE}))
    sim.set_quote("SA40", "53210", "53211")
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}", sim, MONITOR_INTERVAL_SECONDS="0.2")
    procs.import_bots(env, [{**BOT, "stop_loss_pct": "1.0"}])
    serve = procs.serve(env)
    assert entry(serve, 1)["state"] == "executed"
    (position,) = serve.positions()
    stop = Decimal(position["stop_loss"])

    # The market closes, then the quote goes through the stop: the close is refused.
    sim.http.post("/_sim/instruments/SA40", json={"trading_status": "CLOSED"}).raise_for_status()
    sim.set_quote("SA40", str(stop - 50), str(stop - 49))

    def failing() -> list[dict[str, Any]]:
        events = serve.api("GET", "/events", params={"after": 0, "limit": 500}).raise_for_status().json()["events"]
        return [e for e in events if e["kind"] == "ExitFailing"]

    (first,) = wait_until(failing, 15.0, "the error feed to hear of the failing exit")
    assert first["severity"] == "error" and "try 1 failed" in first["text"] and "MARKET_CLOSED" in first["text"]
    wait_until(lambda: len([s for s in serve.signals() if s["id"] != 1]) >= 2, 15.0, "a second try")
    assert sim.positions() == {"SA40": 1}

    # The market opens again: the next try closes the position.
    sim.http.post("/_sim/instruments/SA40", json={"trading_status": "OPEN"}).raise_for_status()
    wait_until(lambda: not sim.positions(), 30.0, "a retry to close the position")
    wait_until(lambda: held(serve) == 0, 10.0, "signaldesk to be flat")
    closes = [s for s in serve.signals() if s["id"] != 1]
    assert closes[0]["state"] == "executed" and all(s["state"] != "executed" for s in closes[1:])
    filled = [o for o in sim.book() if o["status"] == "FILLED"]
    assert len(filled) == 2  # the entry and one close: never closed twice
    time.sleep(1.0)
    assert len([s for s in serve.signals() if s["id"] != 1]) == len(closes)  # and no more tries
