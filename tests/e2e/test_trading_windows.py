"""Trading windows in the real `signaldesk serve` against the Herenya simulator: two bots
whose window ends at the next minute. At the end the monitor flattens the one that asks
(`flatten_at_window_end`); after it the other's entry is refused with the reason in a
trader's words, while its close runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.procs import Processes, now_iso, processes, sim_config, wait_until

pytestmark = pytest.mark.slow

PRICE = "53210.5"
# Time enough before the window ends to import the bots and open both positions (the
# process is up already: the bots are imported into its database while it serves).
LEAD = timedelta(seconds=15)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def window_ending_soon() -> tuple[str, datetime]:
    """A window open now that ends at the first whole minute at least LEAD from now. A window
    cannot end at midnight (it would be 00:00-00:00), so close to it the test waits for the
    new day instead of skipping."""
    now = datetime.now(UTC)
    end = (now + LEAD).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if end.date() != now.date():
        time.sleep((end.replace(hour=0, minute=0) - now).total_seconds() + 1)
        return window_ending_soon()
    return f"Mon-Sun 00:00-{end:%H:%M}", end


def bot(name: str, key: str, window: str, **extra: object) -> dict[str, object]:
    return {
        "bot_name": name,
        "symbol": "SA40",
        "broker_account": "Herenya",
        "mode": "auto",
        "webhook_key": key,
        "trading_hours": [window],
        "max_slippage_pct": "0.5",
        **extra,
    }


def test_the_window_end_flattens_then_entries_are_refused_and_closes_run(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=sim_config(tmp_path / "sim.toml", symbols={"SA40": PRICE}))
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'sd.db'}", sim, MONITOR_INTERVAL_SECONDS="0.2")
    serve = procs.serve(env)
    window, end = window_ending_soon()
    keep = bot("KeepsIt", "window_keep_key_01", window, allow_pyramiding=True, max_positions=2)
    flat = bot("FlattensIt", "window_flat_key_01", window, flatten_at_window_end=True)
    procs.import_bots(env, [keep, flat])

    def alert(b: dict[str, object], action: str) -> dict[str, object]:
        answer = serve.webhook(str(b["webhook_key"]), {"action": action, "price": PRICE, "time": now_iso()})
        assert answer.status_code == 200, answer.text
        final = {"executed", "failed", "refused", "ignored"}
        return serve.wait_state(int(answer.json()["signal_id"]), final, 15.0)

    assert alert(keep, "RSI_LONG_ENTRY")["state"] == "executed"
    assert alert(flat, "RSI_LONG_ENTRY")["state"] == "executed"
    assert datetime.now(UTC) < end, "the entries took longer than the lead before the window's end"
    assert sim.positions() == {"SA40": 2}

    # The window ends: the monitor closes FlattensIt's position, and only that one.
    def held() -> dict[str, int]:
        return {str(p["bot_name"]): int(p["quantity"]) for p in serve.positions() if p["quantity"]}

    wait_until(lambda: held() == {"KeepsIt": 1}, (end - datetime.now(UTC)).total_seconds() + 20, "the flatten")
    assert datetime.now(UTC) >= end and sim.positions() == {"SA40": 1}
    closing = [s for s in serve.signals() if s["bot_name"] == "FlattensIt" and s["source"] == "monitor"]
    assert [s["state"] for s in closing] == ["executed"]

    # Outside now: an entry (an add) is refused with the reason; the close runs.
    refused = alert(keep, "RSI_LONG_ENTRY")
    assert refused["state"] == "refused"
    assert refused["reason"] == f"outside trading hours {window} UTC"
    assert alert(keep, "RSI_CLOSE_LONG")["state"] == "executed"
    assert sim.positions() == {}
