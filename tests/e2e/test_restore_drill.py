"""A restore drill (issue 25, item 3), against the real `signaldesk serve` and the Herenya
simulator: a backup made by `signaldesk db backup` while alerts arrive at 20/s and orders
are in flight, the live database then lost (SIGKILL, the file set aside), `signaldesk db
restore` into an empty database, and serve started on it.

Every signal answered "accepted" before the backup began is in the restored database; those
in flight with an order end executed with the broker's original order (looked up by client
order id), never a second one; the broker's position, ahead of the restored desk by the
orders of signals lost since the backup, is seen by reconciliation and adopted (the restore
checklist's repair); and the desk trades on: new alerts execute with orders of their own,
never mistaken for the orders of signals lost since the backup (the restore's id gap).
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli.db_restore import SIGNAL_ID_GAP
from tests.e2e.alert_stream import AlertStream
from tests.e2e.procs import Processes, Serve, now_iso, processes, signaldesk_command, sim_config, wait_until

pytestmark = pytest.mark.slow

KEY = "restore_drill_bot_key_0123456789abcdef"
BOT = {
    "bot_name": "RestoreDrill",
    "symbol": "SA40",
    "broker_account": "Herenya",
    "mode": "auto",
    "base_position_size": 1,
    "max_positions": 10_000,
    "allow_pyramiding": True,
    "webhook_key": KEY,
    "max_slippage_pct": "1.0",
}
FINAL = {"executed", "refused", "ignored", "failed", "rejected", "expired", "canceled"}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def db_command(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*signaldesk_command(), "db", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def all_final(serve: Serve) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        signals = serve.signals(limit=500)
        return signals if signals and all(s["state"] in FINAL for s in signals) else None

    try:
        return wait_until(check, 120.0, "every signal to reach a final state", interval=0.25)
    except TimeoutError:
        states = Counter(s["state"] for s in serve.signals(limit=500))
        raise AssertionError(f"signals left unfinished: {states}\n{serve.process.output()}") from None


def test_backup_under_writes_restore_and_trade_on(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": "53210.5"}, max_quantity=100_000))
    sim.set_quote("SA40", "53210", "53211")
    # Every order answered 0.2 s late: signals queue up behind the one being sent, so the
    # backup catches signals in flight (queued, and with an order sent but not answered).
    sim.set_faults(delay_rate=1.0, delay=0.2)
    live = tmp_path / "live.db"
    env = procs.serve_env(f"sqlite+aiosqlite:///{live}", sim)
    procs.import_bots(env, [BOT])
    serve = procs.serve(env)

    stream = AlertStream(serve.base_url, KEY, rate=20.0, answer_within=10.0)  # no time contract here
    stream.start()
    stream.wait_sent(60)
    committed = {a.signal_id for a in stream.answered() if a.status == 200}  # answered, so committed
    backup = tmp_path / "backup.db"
    made = db_command(env, "backup", str(backup), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    stream.wait_sent(40)  # written after the backup: lost with the live database
    answers = stream.stop()
    # The live desk catches up (its orders reach the broker), then dies without a clean stop.
    sim.set_faults(delay_rate=0.0)
    all_final(serve)
    serve.process.kill()
    serve.close()
    assert all(a.status == 200 for a in answers), Counter((a.status, a.code) for a in answers)
    accepted = {a.signal_id for a in answers}

    with sqlite3.connect(backup) as db:
        in_backup = {row[0]: row[1] for row in db.execute("SELECT id, state FROM signals")}
        sent_in_backup = {row[0]: row[1] for row in db.execute("SELECT signal_id, client_order_id FROM orders")}
    in_flight = {sid for sid, state in in_backup.items() if state not in FINAL}
    assert in_flight, f"the backup caught no signal in flight ({Counter(in_backup.values())}): the drill tests nothing"
    assert committed <= set(in_backup), "a signal answered accepted before the backup began is not in it"
    lost = accepted - set(in_backup)
    assert lost, "no alert came after the backup: the drill tests nothing"
    book_before = {o["client_order_id"]: o for o in sim.book()}
    # The lost signals' orders are at the broker: the restored desk must not take them for its own.
    assert {f"sd-{sid}-1" for sid in lost} <= set(book_before)
    # The restore refuses a database that is not empty (the live one, set aside).
    refused = db_command(env, "restore", str(backup), cwd=tmp_path)
    assert refused.returncode == 1 and "is not empty" in refused.stderr, refused.stderr
    restored = tmp_path / "restored.db"
    env_restored = procs.serve_env(f"sqlite+aiosqlite:///{restored}", sim)
    done = db_command(env_restored, "restore", str(backup), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{len(in_flight)} unfinished" in done.stdout, done.stdout

    serve = procs.serve(env_restored)
    held = {s["id"]: s for s in all_final(serve)}
    highest = max(in_backup)
    gap = held.pop(highest + SIGNAL_ID_GAP)
    assert gap["state"] == "ignored" and "signaldesk db restore" in (gap["reason"] or "")
    assert set(held) == set(in_backup), "the restored database does not hold exactly the backup's signals"
    # A signal with an order in the backup (sent, or about to be) ends executed with the
    # broker's order for its client order id: looked up first, never placed again.
    book = {o["client_order_id"]: o for o in sim.book()}
    for sid, client_order_id in sent_in_backup.items():
        assert held[sid]["state"] == "executed", held[sid]
        (order,) = serve.signal(sid)["orders"]
        assert order["client_order_id"] == client_order_id
        assert order["broker_order_id"] == book[client_order_id]["order_id"]
        if client_order_id in book_before:
            assert book_before[client_order_id]["order_id"] == book[client_order_id]["order_id"]
    # The broker holds more than the restored desk (the orders of signals lost since the
    # backup): reconciliation marks the bot, and its queued entries are refused rather than
    # traded on a position the desk does not know. Nothing new reached the broker but what
    # the backup's queued signals may have sent before the mismatch was seen.
    states = Counter(s["state"] for s in held.values())
    assert set(states) <= {"executed", "refused"}, states
    queued = {sid for sid in in_flight if sid not in sent_in_backup}
    assert set(book) - set(book_before) <= {f"sd-{sid}-1" for sid in queued}, "an order beyond the in-flight ones"

    # The restore checklist's repair: adopt the broker's position.
    repaired = serve.api("POST", f"/bots/{BOT['bot_name']}/reconcile", json={"action": "adopt"})
    assert repaired.status_code == 200, repaired.text

    # The desk trades on: new alerts get ids past the gap, and orders of their own.
    fresh = []
    for n in range(10):
        body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "id": f"after-restore-{n}"}
        answer = serve.webhook(KEY, body)
        assert answer.status_code == 200, answer.text
        fresh.append(int(answer.json()["signal_id"]))
    assert min(fresh) > highest + SIGNAL_ID_GAP
    for sid in fresh:
        serve.wait_state(sid, {"executed"}, 30)
    book_after = {o["client_order_id"]: o for o in sim.book()}
    assert set(book_after) - set(book) == {f"sd-{sid}-1" for sid in fresh}
    # Every order at the broker is one signal's: the restored ones, the new ones, and those
    # of signals lost since the backup (sent by the lost database, adopted by the repair).
    assert set(book_after) <= {f"sd-{sid}-1" for sid in (set(held) | set(fresh) | lost)}
    assert sim.positions() == {"SA40": len(book_after)}
    ours = [p["quantity"] for p in serve.positions() if p["symbol"] == "SA40"]
    assert ours == [len(book_after)], "the desk and the broker disagree after the repair"
