"""One alert traded on two accounts with the real processes (issue 27, item 3): two Herenya
simulators, one per account, and `signaldesk serve` with an accounts file and a bot on both,
`prop = 2`. One alert makes an order of 1 on main and of 2 on prop, each leg with its own
stop; prop's broker down for 5 s holds prop's leg only, which executes after the outage,
nothing doubled; a SIGKILL between the two legs' orders leaves each executed exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
    write_toml_tables,
)
from tests.e2e.test_crash_recovery import post_expecting_death, wait_killed

pytestmark = pytest.mark.slow

KEY = "legs_auto_key_1234"
BOT = {
    "bot_name": "SA40_Two_Accounts",
    "symbol": "SA40",
    "accounts": ["main", "prop"],
    "account_sizes": {"prop": 2},
    "mode": "auto",
    "stop_loss_pct": "1.5",
    "max_slippage_pct": "0.5",
    "webhook_key": KEY,
}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def two_simulators(procs: Processes, tmp_path: Path) -> tuple[Simulator, Simulator]:
    sims = []
    for name in ("main", "prop"):
        sim = procs.simulator(config=sim_config(tmp_path / f"sim-{name}.toml", symbols={"SA40": "53210.5"}))
        sim.set_quote("SA40", "53210", "53211")
        sims.append(sim)
    return sims[0], sims[1]


def serve_env(procs: Processes, tmp_path: Path, main: Simulator, prop: Simulator) -> dict[str, str]:
    accounts = write_toml_tables(
        tmp_path / "accounts.toml",
        "accounts",
        [
            {
                "name": name,
                "broker": "herenya",
                "base_url": sim.base_url,
                "account_id": SIM_ACCOUNT,
                "api_key_env": f"{name.upper()}_KEY",
                "api_secret_env": f"{name.upper()}_SECRET",
            }
            for name, sim in (("main", main), ("prop", prop))
        ],
    )
    bots = write_toml_tables(tmp_path / "bots.toml", "bots", [BOT])
    secrets = {f"{n}_{k}": v for n in ("MAIN", "PROP") for k, v in (("KEY", SIM_KEY), ("SECRET", SIM_SECRET))}
    db = f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}"
    return procs.serve_env(db, None, ACCOUNTS_FILE=str(accounts), BOTS_FILE=str(bots), **secrets)


def alert(n: int) -> dict[str, Any]:
    return {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": now_iso(), "id": f"legs-{n}"}


def orders(sim: Simulator) -> list[tuple[str, int, str]]:
    return [(o["client_order_id"], int(o["quantity"]), o["status"]) for o in sim.book()]


def legs(serve: Serve, first: int) -> list[tuple[str | None, str]]:
    found = {s["id"]: s for s in serve.signals(bot=BOT["bot_name"])}
    return [(found[i]["account"], found[i]["state"]) for i in (first, first + 1)]


def held(serve: Serve) -> dict[str, tuple[int, Decimal | None]]:
    return {p["account"]: (p["quantity"], p["stop_loss"] and Decimal(p["stop_loss"])) for p in serve.positions()}


def test_one_alert_trades_both_accounts_and_one_accounts_outage_holds_only_its_leg(
    procs: Processes, tmp_path: Path
) -> None:
    main, prop = two_simulators(procs, tmp_path)
    serve = procs.serve(serve_env(procs, tmp_path, main, prop))
    prop.set_faults(error_rate=1.0)  # prop's broker answers nothing but 5xx
    answer = serve.webhook(KEY, alert(1))
    assert answer.status_code == 200, answer.text
    first = answer.json()["signal_id"]
    serve.wait_state(first, {"executed"}, timeout=30)
    assert orders(main) == [(f"sd-{first}-1", 1, "FILLED")]
    time.sleep(5)  # the outage: nothing reaches prop meanwhile
    assert orders(prop) == []
    (main_leg, prop_leg) = legs(serve, first)
    assert main_leg == ("main", "executed") and prop_leg[0] == "prop" and prop_leg[1] != "executed", prop_leg
    prop.set_faults(error_rate=0.0)
    serve.wait_state(first + 1, {"executed"}, timeout=60)
    # Each leg once, on its own account, sized there: 1 on main, 2 on prop.
    assert orders(main) == [(f"sd-{first}-1", 1, "FILLED")]
    assert orders(prop) == [(f"sd-{first + 1}-1", 2, "FILLED")]
    assert (main.positions(), prop.positions()) == ({"SA40": 1}, {"SA40": 2})
    # Each with its own stop, 1.5% under its fill at 53211.
    assert held(serve) == {"main": (1, Decimal(52413)), "prop": (2, Decimal(52413))}
    assert [p["account"] for p in serve.api("GET", "/positions", params={"account": "prop"}).json()["positions"]] == [
        "prop"
    ]


def test_a_kill_between_the_two_legs_orders_leaves_each_executed_exactly_once(procs: Processes, tmp_path: Path) -> None:
    main, prop = two_simulators(procs, tmp_path)
    env = serve_env(procs, tmp_path, main, prop)
    # Killed the first time a broker's answer is in hand: main's order is placed and filled,
    # its answer not stored, prop's order not sent.
    serve = procs.serve(env | {"SIGNALDESK_CRASH_AT": "order_answered"})
    answer = post_expecting_death(serve, lambda: serve.webhook(KEY, alert(2)))
    assert answer is not None and answer.status_code == 200, answer and answer.text
    first = answer.json()["signal_id"]
    wait_killed(serve)
    assert orders(main) == [(f"sd-{first}-1", 1, "FILLED")] and orders(prop) == []

    again = procs.serve(env)
    again.wait_state(first, {"executed"}, timeout=30)
    again.wait_state(first + 1, {"executed"}, timeout=30)
    assert orders(main) == [(f"sd-{first}-1", 1, "FILLED")]
    assert orders(prop) == [(f"sd-{first + 1}-1", 2, "FILLED")]
    assert (main.positions(), prop.positions()) == ({"SA40": 1}, {"SA40": 2})
    assert {a: q for a, (q, _stop) in held(again).items()} == {"main": 1, "prop": 2}
