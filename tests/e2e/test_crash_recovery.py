"""Exactly once through crashes: the real `signaldesk serve` is killed with SIGKILL at each
point of a signal's life, restarted without the crash hook, and must finish the signal
exactly once — the simulator's book, its position and our position / trades agree.

How each kill point is reached:
- signal_stored, approved, order_stored, before_send, order_answered: the process's own
  crash hook, SIGNALDESK_CRASH_AT=<point>, SIGKILLs it the first time it passes that
  point (bot/app.py, trading/execution.py, trading/service.py). order_answered is "after
  the fill, before the position update": the broker has filled the order and answered,
  and the process dies before the one transaction that stores the answer, applies the
  fill to the position and completes the signal;
- sent_before_answer: no hook; the simulator holds every answer back (delay fault), the
  test watches the simulator's book and SIGKILLs serve the moment the order is in it, so
  the order is placed and its answer still pending.
After the open has been recovered, the position is closed through the restarted process
and the trade's realized P&L is checked against the simulator's fills.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.procs import Processes, Serve, Simulator, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

AUTO = {
    "bot_name": "CrashAuto",
    "symbol": "SA40",
    "mode": "auto",
    "base_position_size": 2,
    "webhook_key": "crash_auto_key_01",
}
APPROVE = {
    "bot_name": "CrashApprove",
    "symbol": "US30",
    "mode": "approve",
    "base_position_size": 1,
    "webhook_key": "crash_approve_key_01",
}
QUOTES = {"SA40": ("53210", "53211"), "US30": ("38500", "38501")}
CLOSE_QUOTES = {"SA40": ("53300", "53301"), "US30": ("38420", "38421")}

# kill point -> the bot whose signal is killed there
POINTS = {
    "signal_stored": AUTO,
    "approved": APPROVE,
    "order_stored": AUTO,
    "before_send": AUTO,
    "sent_before_answer": AUTO,
    "order_answered": AUTO,
}


def bot_rows() -> list[dict[str, Any]]:
    common = {"broker_account": "Herenya", "max_slippage_pct": "0.5", "approval_timeout_minutes": 15}
    return [common | AUTO, common | APPROVE]


def mid(symbol: str, quotes: dict[str, tuple[str, str]]) -> str:
    bid, ask = quotes[symbol]
    return str((Decimal(bid) + Decimal(ask)) / 2)


def alert(action: str, bot: dict[str, Any], n: int, quotes: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {"action": action, "price": mid(bot["symbol"], quotes), "time": now_iso(), "id": f"crash-{n}"}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def post_expecting_death(serve: Serve, send: Any) -> httpx.Response | None:
    """Send a request that may kill the process before it answers."""
    try:
        return send()
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
        return None


def wait_killed(serve: Serve, timeout: float = 20.0) -> None:
    try:
        code = serve.process.wait(timeout)
    except Exception:
        raise AssertionError(f"serve did not die at the kill point:\n{serve.process.output()}") from None
    assert code == -signal.SIGKILL, f"serve ended with {code}, not SIGKILL:\n{serve.process.output()}"
    serve.close()


def open_and_crash(procs: Processes, sim: Simulator, env: dict[str, str], point: str) -> None:
    """Start serve with the crash hook (or the answer delay), send the opening signal, see it die there."""
    bot = POINTS[point]
    if point == "sent_before_answer":
        sim.set_faults(delay_rate=1.0, delay=1.5)
        serve = procs.serve(env)
        answer = serve.webhook(bot["webhook_key"], alert("RSI_LONG_ENTRY", bot, 1, QUOTES))
        assert answer.status_code == 200, answer.text
        wait_until(lambda: sim.book(), 15.0, "the order to reach the simulator's book")
        serve.process.kill()
        assert sim.book()[0]["status"] == "FILLED"
        sim.set_faults(delay_rate=0.0)
        serve.close()
        return
    serve = procs.serve(env | {"SIGNALDESK_CRASH_AT": point})
    answer = post_expecting_death(
        serve, lambda: serve.webhook(bot["webhook_key"], alert("RSI_LONG_ENTRY", bot, 1, QUOTES))
    )
    if point == "signal_stored":
        assert answer is None, f"the webhook was answered ({answer.status_code}) though serve was to die first"
    else:
        assert answer is not None and answer.status_code == 200, answer and answer.text
    if point == "approved":
        signal_id = answer.json()["signal_id"]
        serve.wait_state(signal_id, {"pending_approval"}, 10.0)
        approved = post_expecting_death(serve, lambda: serve.api("POST", f"/signals/{signal_id}/approve", json={}))
        assert approved is None, "the approval was answered though serve was to die after committing it"
    wait_killed(serve)


def check_agreement(serve: Serve, sim: Simulator, expected_signals: int) -> list[dict[str, Any]]:
    """Every signal executed exactly once; one filled order per client order id; positions agree."""
    signals = serve.signals()
    assert len(signals) == expected_signals, signals
    for s in signals:
        assert s["state"] == "executed", s
        states = [h["state"] for h in s["history"]]
        assert states.count("executed") == 1, states
        assert states.count("executing") == 1, states
    book = sim.book()
    ids = [o["client_order_id"] for o in book]
    assert len(ids) == len(set(ids)), f"an order was placed twice: {ids}"
    ours = []
    for s in signals:
        detail = serve.signal(s["id"])
        assert detail["orders"], detail
        for o in detail["orders"]:
            assert o["client_order_id"] == f"sd-{s['id']}-{o['leg_index']}"
            assert o["status"] == "filled", o
            ours.append(o)
    assert sorted(ids) == sorted(o["client_order_id"] for o in ours), (book, ours)
    by_cid = {o["client_order_id"]: o for o in book}
    for o in ours:
        theirs = by_cid[o["client_order_id"]]
        assert theirs["status"] == "FILLED"
        assert o["broker_order_id"] == theirs["order_id"]
        assert o["filled_quantity"] == theirs["filled_quantity"] == o["quantity"]
        assert Decimal(o["average_fill_price"]) == Decimal(theirs["average_fill_price"])
    held = sim.positions()
    mine: dict[str, int] = {}
    for p in serve.positions():
        signed = p["quantity"] if p["side"] in (None, "long") else -p["quantity"]
        if signed:
            mine[p["symbol"]] = mine.get(p["symbol"], 0) + signed
    assert mine == held, f"signaldesk {mine} vs simulator {held}"
    return book


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_at_each_point_finishes_exactly_once(procs: Processes, tmp_path: Path, point: str) -> None:
    bot = POINTS[point]
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={s: mid(s, QUOTES) for s in QUOTES}))
    for symbol, (bid, ask) in QUOTES.items():
        sim.set_quote(symbol, bid, ask)
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}", sim)
    procs.import_bots(env, bot_rows())

    open_and_crash(procs, sim, env, point)

    serve = procs.serve(env)
    signal_id = wait_until(lambda: [s["id"] for s in serve.signals()], 10.0, "the stored signal")[0]
    serve.wait_state(signal_id, {"executed", "failed", "refused", "ignored"}, 20.0)
    book = check_agreement(serve, sim, 1)
    assert [o["client_order_id"] for o in book] == [f"sd-{signal_id}-1"]
    assert book[0]["side"] == "BUY" and book[0]["quantity"] == bot["base_position_size"]
    assert sim.positions() == {bot["symbol"]: bot["base_position_size"]}
    (position,) = [p for p in serve.positions() if p["bot_name"] == bot["bot_name"]]
    assert Decimal(position["average_price"]) == Decimal(book[0]["average_fill_price"])

    # The restarted process goes on trading: close, and the trade's P&L is the simulator's.
    for symbol, (bid, ask) in CLOSE_QUOTES.items():
        sim.set_quote(symbol, bid, ask)
    answer = serve.webhook(bot["webhook_key"], alert("RSI_CLOSE_LONG", bot, 2, CLOSE_QUOTES))
    assert answer.status_code == 200, answer.text
    close_id = answer.json()["signal_id"]
    if bot["mode"] == "approve":
        serve.wait_state(close_id, {"pending_approval"}, 10.0)
        assert serve.api("POST", f"/signals/{close_id}/approve", json={}).status_code == 200
    serve.wait_state(close_id, {"executed", "failed", "refused", "ignored"}, 20.0)
    book = check_agreement(serve, sim, 2)
    assert sim.positions() == {}
    entry, exit_ = (next(o for o in book if o["client_order_id"] == f"sd-{sid}-1") for sid in (signal_id, close_id))
    assert exit_["side"] == "SELL"
    trades = serve.trades()
    assert len(trades) == 1, trades
    (trade,) = trades
    quantity = bot["base_position_size"]
    expected = (Decimal(exit_["average_fill_price"]) - Decimal(entry["average_fill_price"])) * quantity
    assert trade["quantity"] == quantity and trade["side"] == "long"
    assert trade["signal_id"] == close_id
    assert Decimal(trade["realized_pnl"]) == expected, (trade, entry, exit_)
