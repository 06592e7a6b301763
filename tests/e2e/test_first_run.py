"""A first run with no accounts, as `make run` starts it: the Herenya simulator inside the
process, the example bots, /health 200, and the printed next steps work as printed: the
auto-mode bot trades, the approve-mode bot's alert waits and is approved through the API
with the token the banner gives."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import ROOT, Processes, free_port, processes, signaldesk_command, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def printed_alerts(banner: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Bot name -> (URL, body) of each test alert the banner prints as a curl line."""
    found = {}
    for name, curl in re.findall(r"# a test alert for (\S+)\n\s*(curl .+)", banner):
        words = shlex.split(curl)
        url = next(w for w in words if w.startswith("http"))
        found[name] = (url, json.loads(words[words.index("-d") + 1]))
    return found


def test_a_first_run_with_no_accounts_trades_and_says_what_to_do_next(procs: Processes, tmp_path: Path) -> None:
    port = free_port()
    env = procs.base_env()
    env.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}",
            "BOTS_FILE": str(ROOT / "bots.example.toml"),
            "HERENYA_SIMULATOR": "true",
            "SIGNALDESK_PORT": str(port),
            "MONITOR_INTERVAL_SECONDS": "3600",
        }
    )
    proc = procs.spawn("serve", [*signaldesk_command(), "serve"], env)
    base = f"http://127.0.0.1:{port}"
    banner = wait_until(
        lambda: (lambda text: text if "Try it" in text and "approve" in text else None)(proc.output(50_000)),
        30,
        "the first-run banner",
    )
    with httpx.Client(base_url=base, timeout=10) as http:
        health = wait_until(
            lambda: (lambda r: r if r.status_code == 200 else None)(http.get("/health")), 30, "/health 200"
        )
        assert health.json()["status"] == "ok"

        token = re.search(r"API token for this run: (\S+)", banner)
        assert token, banner
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        alerts = printed_alerts(banner)
        assert set(alerts) == {"SA40_Paper_Auto", "SA40_RSI_Bot"}, banner

        url, body = alerts["SA40_Paper_Auto"]
        paper = http.post(url, json=body)
        assert paper.status_code == 200 and paper.json()["status"] == "accepted", paper.text

        def state(signal_id: int) -> str:
            return str(http.get(f"/api/signals/{signal_id}", headers=auth).json()["state"])

        paper_id = paper.json()["signal_id"]
        wait_until(lambda: state(paper_id) == "executed", 20, "the paper bot's alert to execute")

        url, body = alerts["SA40_RSI_Bot"]
        asked = http.post(url, json=body)
        assert asked.status_code == 200, asked.text
        asked_id = asked.json()["signal_id"]
        wait_until(lambda: state(asked_id) == "pending_approval", 20, "the approve-mode alert to wait")
        waiting = http.get("/api/signals", params={"state": "pending_approval"}, headers=auth).json()["signals"]
        assert [s["id"] for s in waiting] == [asked_id]
        approved = http.post(f"/api/signals/{asked_id}/approve", headers=auth)
        assert approved.status_code == 200, approved.text
        wait_until(lambda: state(asked_id) == "executed", 20, "the approved alert to execute on the simulator")
