"""Named accounts with the real processes: the simulator serving two Herenya accounts,
`signaldesk serve` creating the accounts of ACCOUNTS_FILE at start-up and trading a bot on
the second one, and `signaldesk accounts check` reading balance and positions from each."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.e2e.procs import (
    SIM_ACCOUNT,
    SIM_KEY,
    SIM_SECRET,
    Processes,
    now_iso,
    processes,
    signaldesk_command,
    write_toml_tables,
)
from tests.support.cli import run_cli

PROP_ACCOUNT, PROP_KEY, PROP_SECRET = "P7", "prop-key", "prop-secret"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def simulator_config(path: Path) -> Path:
    """Two accounts (the settings' A1, and P7 for the file's `prop`), one frozen instrument."""
    lines = ["seed = 7", "quote_step_seconds = 0", ""]
    for account, key, secret in ((SIM_ACCOUNT, SIM_KEY, SIM_SECRET), (PROP_ACCOUNT, PROP_KEY, PROP_SECRET)):
        lines += ["[[accounts]]", f'account_id = "{account}"', f'api_key = "{key}"', f'api_secret = "{secret}"']
        lines += ['balance = "250000"', 'currency = "ZAR"', ""]
    lines += ["[[instruments]]", 'symbol = "SA40"', 'price = "53210.5"', 'tick_size = "0.5"', "max_quantity = 12"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(env: Mapping[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*signaldesk_command(), *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_serve_trades_a_bot_on_a_file_account_and_check_reads_it(procs: Processes, tmp_path: Path) -> None:
    sim = procs.simulator(config=simulator_config(tmp_path / "sim.toml"))
    sim.set_quote("SA40", "53210", "53211")
    accounts = write_toml_tables(
        tmp_path / "accounts.toml",
        "accounts",
        [
            {
                "name": "prop",
                "broker": "herenya",
                "base_url": sim.base_url,
                "account_id": PROP_ACCOUNT,
                "api_key_env": "PROP_KEY",
                "api_secret_env": "PROP_SECRET",
            },
            {"name": "demo", "broker": "paper", "currency": "USD", "starting_balance": 5000, "quotes_from": "prop"},
        ],
    )
    bots = write_toml_tables(
        tmp_path / "bots.toml",
        "bots",
        [
            {
                "bot_name": "Prop_Auto",
                "symbol": "SA40",
                "accounts": ["prop"],
                "mode": "auto",
                "webhook_key": "prop_auto_key_1234",
            }
        ],
    )
    db = f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}"
    env = procs.serve_env(
        db, sim, ACCOUNTS_FILE=str(accounts), BOTS_FILE=str(bots), PROP_KEY=PROP_KEY, PROP_SECRET=PROP_SECRET
    )
    serve = procs.serve(env)

    answer = serve.webhook("prop_auto_key_1234", {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": now_iso()})
    assert answer.status_code == 200, answer.text
    serve.wait_state(answer.json()["signal_id"], {"executed"}, timeout=30)
    rows = sim.http.get("/_sim/positions").raise_for_status().json()["positions"]
    held = {(p["account_id"], p["symbol"]): int(p["quantity"]) for p in rows if int(p["quantity"])}
    assert held == {(PROP_ACCOUNT, "SA40"): 1}  # on prop's account, none on the settings' A1

    listed = {a["name"]: a for a in serve.api("GET", "/accounts").raise_for_status().json()["accounts"]}
    assert list(listed) == ["Herenya", "Paper", "demo", "prop"]
    assert all(a["reachable"] is True for a in listed.values()), listed
    assert [(p["symbol"], p["side"], p["quantity"]) for p in listed["prop"]["positions"]] == [("SA40", "long", 1)]
    assert listed["Herenya"]["positions"] == [] and listed["prop"]["currency"] == "ZAR"
    assert PROP_SECRET not in str(listed) and PROP_KEY not in str(listed)

    cli_env = {k: v for k, v in env.items() if k not in ("ACCOUNTS_FILE", "BOTS_FILE")}
    done = run(cli_env, tmp_path, "accounts", "check", "prop")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"prop (herenya, {sim.base_url} account {PROP_ACCOUNT})"
    # Equity moves with the quote; the balance and the position are what they are.
    assert lines[1].startswith("  reachable, currency ZAR: balance 250,000.00, equity "), lines
    assert len(lines) == 3 and lines[2].startswith("  position: SA40 long 1 @ 53,21"), lines

    # The real command once, above; in this process (tests/support/cli.py) after it.
    everything = run_cli("accounts", "check", env=cli_env, cwd=tmp_path)
    assert everything.code == 0, everything.out + everything.err
    assert [line.split(" (")[0] for line in everything.out.splitlines() if not line.startswith(" ")] == [
        "Herenya",
        "Paper",
        "demo",
        "prop",
    ]

    without = {k: v for k, v in cli_env.items() if k != "PROP_SECRET"}
    missing = run_cli("accounts", "check", "prop", env=without, cwd=tmp_path)
    assert missing.code == 1
    assert "account prop: environment variable PROP_SECRET is not set" in missing.out
    assert PROP_KEY not in missing.out + missing.err
