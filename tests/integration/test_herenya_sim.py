"""The simulator itself: the real command, its TOML config, the control API, the random walk."""

from __future__ import annotations

import gc
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot.cli.main import main
from brokers.herenya.sim_config import SimConfig, SimConfigError, load_sim_config
from brokers.herenya.sim_server import running_simulator
from brokers.herenya.sim_state import SimState

pytestmark = pytest.mark.timeout(60)


def test_the_command_serves_signed_requests_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text(
        '[[accounts]]\naccount_id = "X9"\napi_key = "cli-key"\napi_secret = "cli-secret"\nbalance = "5000"\n'
        "[faults]\nrate_limit = 100\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "bot.cli",
        "herenya-sim",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--config",
        str(config),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until it listens (or dies: then "" and the assert says so)
        assert first.startswith("herenya-sim listening on http://127.0.0.1:"), first + (
            proc.stderr.read() if proc.stderr else ""
        )
        base = first.split()[-1]
        ts = str(int(time.time() * 1000))
        sig = hmac.new(b"cli-secret", f"{ts}GET/v1/accounts/X9".encode(), hashlib.sha256).hexdigest()
        r = httpx.get(
            base + "/v1/accounts/X9",
            headers={"X-Herenya-Key": "cli-key", "X-Herenya-Timestamp": ts, "X-Herenya-Signature": sig},
            timeout=5,
        )
        assert r.status_code == 200 and r.json()["balance"] == "5000.00"
        assert httpx.get(base + "/v1/accounts/X9", timeout=5).json()["error"]["code"] == "INVALID_API_KEY"
        assert httpx.get(base + "/_sim/faults", timeout=5).json()["rate_limit"] == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0


def test_the_command_refuses_a_bad_config_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[faults]\nerror_rate = 2\n")
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "herenya-sim", "--port", "0", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "error_rate must be between 0 and 1" in out.stderr and str(bad) in out.stderr


def test_a_refused_start_in_process_gives_the_caller_its_garbage_collector_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signaldesk herenya-sim` and `serve` start with the collector off (bot/cli/main.py,
    LONG_RUNNING); a caller of `main` in its own process (the tests do) gets it back."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[faults]\nerror_rate = 2\n")
    assert gc.isenabled()
    assert main(["herenya-sim", "--port", "0", "--config", str(bad)]) == 2
    assert "error_rate must be between 0 and 1" in capsys.readouterr().err
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("seed = 'x'", "seed must be an integer"),
        ("colour = 1", "unknown keys colour"),
        ("[[instruments]]\nsymbol = 'SA40'\ntick_size = 'abc'", "tick_size is not a decimal"),
        ("[[instruments]]\nsymbol = 'SA40'\nmax_quantity = '12'", "max_quantity must be int"),
        ("[[accounts]]\naccount_id = 'A'\napi_key = 'k'", "api_secret"),
        ("[faults]\nrate = 3", "unknown field 'rate'"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(SimConfigError, match=needle):
        load_sim_config(p)


def test_config_file_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        "seed = 4\n[[instruments]]\nsymbol = 'JSE'\nprice = '100.5'\ntick_size = '0.5'\ntrading_status = 'CLOSED'\n"
        "[faults]\nerror_rate = 0.1\ndelay = 2\n"
    )
    c = load_sim_config(p)
    assert c.seed == 4 and [i.symbol for i in c.instruments] == ["JSE"] and c.instruments[0].price == Decimal("100.5")
    assert c.faults.error_rate == 0.1 and c.faults.delay == 2.0 and [a.account_id for a in c.accounts] == ["A1", "A2"]
    with pytest.raises(SimConfigError, match="no such file"):
        load_sim_config(tmp_path / "missing.toml")


def test_random_walk_is_seeded_moves_with_time_and_stays_on_ticks() -> None:
    now = [1_700_000_000.0]

    def walk(seed: int) -> list[str]:
        now[0] = 1_700_000_000.0
        s = SimState(SimConfig(seed=seed, quote_step_seconds=1.0), clock=lambda: now[0])
        out = []
        for _ in range(50):
            now[0] += 1.0
            out.append(s.quote("SA40")["bid"])
        return out

    a, b, c = walk(7), walk(7), walk(8)
    assert a == b and a != c
    assert len(set(a)) > 3
    assert all(Decimal(x) % Decimal("0.5") == 0 for x in a)


async def test_control_api_faults_reset_book_and_positions() -> None:
    async with (
        running_simulator(SimConfig(seed=1, quote_step_seconds=0)) as sim,
        httpx.AsyncClient(base_url=f"http://{sim.host}:{sim.port}", timeout=5) as h,
    ):
        r = await h.post("/_sim/faults", json={"error_rate": 0.5, "delay": 0.1})
        assert r.status_code == 200 and r.json()["error_rate"] == 0.5 and sim.state.faults.delay == 0.1
        bad = await h.post("/_sim/faults", json={"error_rate": 3})
        assert bad.status_code == 400 and "error_rate" in bad.json()["error"]["message"]
        bad = await h.post("/_sim/quotes/SA40", json={"bid": "10", "ask": "9"})
        assert bad.status_code == 400 and "bid" in bad.json()["error"]["message"]
        sim.state.faults = sim.state.faults.updated({"error_rate": 0})
        sim.state.place_order(
            "A1", {"client_order_id": "x", "symbol": "SA40", "side": "BUY", "type": "MARKET", "quantity": 1}
        )
        assert [o["client_order_id"] for o in (await h.get("/_sim/book")).json()["orders"]] == ["x"]
        assert (await h.get("/_sim/positions")).json()["positions"][0]["quantity"] == 1
        assert (await h.post("/_sim/reset")).status_code == 200
        assert (await h.get("/_sim/book")).json()["orders"] == []
        missing = await h.get("/v1/nothing-here")
        assert missing.status_code in (401, 404) and "error" in missing.json()
