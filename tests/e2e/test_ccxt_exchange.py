"""An exchange account end to end: the real `signaldesk serve` trading a bot on a ccxt
account (binanceusdm) pointed at the loopback fake Binance USDⓈ-M exchange through
`api_base_url`: an auto-mode entry with stop and target resting on the exchange, the
target hit there, a short and its reversal, a close; an order whose answer was lost placed once; a bot whose symbol the
exchange does not list paused at start-up; bad keys reported as such."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.procs import Processes, now_iso, processes, signaldesk_command, wait_until, write_toml_tables
from tests.support.fake_binance import API_KEY, API_SECRET, FakeBinance, fake_binance_in_thread

KEY = "btc_perp_key_1234"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


@pytest.fixture
def exchange() -> Iterator[tuple[str, FakeBinance]]:
    with fake_binance_in_thread() as served:
        yield served


def desk_files(tmp_path: Path, base_url: str) -> tuple[Path, Path]:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "[[accounts]]\n"
        'name = "binance-futures"\n'
        'broker = "ccxt"\n'
        'exchange = "binanceusdm"\n'
        'api_key_env = "SD_BINANCE_KEY"\n'
        'api_secret_env = "SD_BINANCE_SECRET"\n'
        f'api_base_url = "{base_url}"\n'
        'options = { defaultType = "future" }\n',
        encoding="utf-8",
    )
    common = {"accounts": ["binance-futures"], "mode": "auto", "exit_on_opposite_signal": True}
    bots = write_toml_tables(
        tmp_path / "bots.toml",
        "bots",
        [
            {"bot_name": "BTC_Perp", "symbol": "BTC/USDT:USDT", "tradingview_ticker": "BTCUSDT.P", "webhook_key": KEY}
            | common,
            {
                "bot_name": "Doge_Perp",
                "symbol": "DOGE/USDT:USDT",
                "tradingview_ticker": "DOGEUSDT.P",
                "webhook_key": "doge_perp_key_1234",
            }
            | common,
        ],
    )
    return accounts, bots


def exchange_desk_env(procs: Processes, tmp_path: Path, accounts: Path, bots: Path, **extra: str) -> dict[str, str]:
    """serve's environment for the desk of `desk_files` on a SQLite file, the keys in theirs."""
    return procs.serve_env(
        f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}",
        None,
        ACCOUNTS_FILE=str(accounts),
        BOTS_FILE=str(bots),
        SD_BINANCE_KEY=API_KEY,
        SD_BINANCE_SECRET=API_SECRET,
        HERENYA_TIMEOUT="1",
        **extra,
    )


def alert(action: str, price: str, **extra: object) -> dict[str, object]:
    return {"action": action, "ticker": "BTCUSDT.P", "price": price, "time": now_iso(), **extra}


def held(fake: FakeBinance) -> Decimal:
    return fake.positions["BTCUSDT"].quantity if "BTCUSDT" in fake.positions else Decimal(0)


def test_serve_trades_an_exchange_account_exactly_once(
    procs: Processes, tmp_path: Path, exchange: tuple[str, FakeBinance]
) -> None:
    url, fake = exchange
    accounts, bots = desk_files(tmp_path, url)
    env = exchange_desk_env(procs, tmp_path, accounts, bots)
    serve = procs.serve(env)

    # The bot whose symbol the exchange does not list was paused at start-up, named.
    doge = serve.webhook("doge_perp_key_1234", {**alert("RSI_LONG_ENTRY", "0.15"), "ticker": "DOGEUSDT.P"})
    assert doge.status_code == 409 and "DOGE/USDT:USDT" in doge.text, doge.text

    # An auto-mode entry with stop and target: one market order, then the stop and target
    # resting on the exchange as reduce-only algo orders.
    entry = serve.webhook(KEY, alert("RSI_LONG_ENTRY", "65000", stop_loss=60000, take_profit=70000))
    assert entry.status_code == 200, entry.text
    serve.wait_state(entry.json()["signal_id"], {"executed"}, timeout=30)
    assert held(fake) == 1
    first = fake.placed()[0]
    assert (first.side, first.type, first.client_id.startswith("sd-")) == ("BUY", "MARKET", True)

    def exits() -> dict[str, str]:
        return {o.type: o.status for o in fake.placed() if o.algo}

    wait_until(lambda: exits() == {"STOP_MARKET": "NEW", "TAKE_PROFIT_MARKET": "NEW"}, 30, "the exits on the exchange")

    # The target is hit on the exchange: the desk records the close and cancels the stop.
    fake.set_price("BTCUSDT", Decimal("70010.0"))
    assert held(fake) == 0 and fake.placed()[-1].reduce_only is True and fake.placed()[-1].side == "SELL"
    wait_until(lambda: serve.positions() == [] or all(p["quantity"] == 0 for p in serve.positions()), 30, "flat")
    wait_until(lambda: exits()["STOP_MARKET"] == "CANCELED", 30, "the stop cancelled")

    # A short, its answer lost after the exchange carried it out: placed once.
    fake.faults.append(("POST", "/fapi/v1/order", "lost"))
    short = serve.webhook(KEY, alert("RSI_SHORT_ENTRY", "70010"))
    assert short.status_code == 200, short.text
    serve.wait_state(short.json()["signal_id"], {"executed"}, timeout=30)
    assert held(fake) == -1
    assert sum(1 for o in fake.placed() if o.side == "SELL" and not o.reduce_only) == 1

    # A reversal: the opposite entry closes the short and opens a long.
    long = serve.webhook(KEY, alert("RSI_LONG_ENTRY", "70010"))
    serve.wait_state(long.json()["signal_id"], {"executed"}, timeout=30)
    assert held(fake) == 1

    # A close.
    close = serve.webhook(KEY, alert("RSI_CLOSE_LONG", "70010"))
    serve.wait_state(close.json()["signal_id"], {"executed"}, timeout=30)
    assert held(fake) == 0
    client_ids = [o.client_id for o in fake.placed()]
    # entry, its stop and target, the target's market order, short, reversal (2), close
    assert len(client_ids) == len(set(client_ids)) == 8
    trades = serve.trades()
    assert len(trades) == 3, trades


def test_accounts_check_reports_bad_keys_as_such(
    procs: Processes, tmp_path: Path, exchange: tuple[str, FakeBinance]
) -> None:
    url, _fake = exchange
    accounts, _bots = desk_files(tmp_path, url)
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}", None)
    env |= {"SD_BINANCE_KEY": "wrong-key-abc", "SD_BINANCE_SECRET": "wrong-secret-def"}
    for args in (["accounts", "import", str(accounts)], ["accounts", "check", "binance-futures"]):
        done = subprocess.run(
            [*signaldesk_command(), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "unreachable: binance-futures AUTHENTICATION_FAILED" in done.stdout, done.stdout + done.stderr
    assert "wrong-key-abc" not in done.stdout + done.stderr and "wrong-secret-def" not in done.stdout + done.stderr

    # serve with the same keys: the entry fails, saying it is the keys, never showing them.
    _, bots = desk_files(tmp_path, url)
    serve = procs.serve(env | {"ACCOUNTS_FILE": str(accounts), "BOTS_FILE": str(bots), "HERENYA_TIMEOUT": "1"})
    entry = serve.webhook(KEY, alert("RSI_LONG_ENTRY", "65000"))
    assert entry.status_code == 200, entry.text
    failed = serve.wait_state(entry.json()["signal_id"], {"failed"}, timeout=30)
    assert "configuration problem" in str(failed), failed
    assert "wrong-key-abc" not in str(failed) and "wrong-secret-def" not in str(failed)
    assert _fake.placed() == []


def test_an_approval_faults_on_a_third_of_the_orders_and_a_mismatch_repaired(
    procs: Processes, tmp_path: Path, exchange: tuple[str, FakeBinance]
) -> None:
    url, fake = exchange
    accounts, _ = desk_files(tmp_path, url)
    common = {"accounts": ["binance-futures"], "exit_on_opposite_signal": True}
    bots = write_toml_tables(
        tmp_path / "bots2.toml",
        "bots",
        [
            {"bot_name": "BTC_Perp", "symbol": "BTC/USDT:USDT", "tradingview_ticker": "BTCUSDT.P", "webhook_key": KEY}
            | common
            | {"mode": "auto"},
            {
                "bot_name": "ETH_Approve",
                "symbol": "ETH/USDT:USDT",
                "tradingview_ticker": "ETHUSDT.P",
                "webhook_key": "eth_approve_key_1234",
            }
            | common
            | {"mode": "approve"},
        ],
    )
    env = exchange_desk_env(procs, tmp_path, accounts, bots, RECONCILE_INTERVAL_SECONDS="0.5")
    serve = procs.serve(env)

    # An approval: the card waits, the approver says yes, the order goes once.
    asked = serve.webhook("eth_approve_key_1234", {**alert("RSI_LONG_ENTRY", "3200"), "ticker": "ETHUSDT.P"})
    signal_id = asked.json()["signal_id"]
    serve.wait_state(signal_id, {"pending_approval"}, timeout=30)
    assert fake.placed("ETHUSDT") == []
    assert serve.api("POST", f"/signals/{signal_id}/approve", json={}).status_code == 200
    serve.wait_state(signal_id, {"executed"}, timeout=30)
    assert fake.positions["ETHUSDT"].quantity == 1

    # About 30 % of the order requests fail: a 5xx, no answer, or carried out and the answer lost.
    fake.hang_seconds = 2.0
    fake.fault_rate = 0.3
    done = []
    for n in range(10):
        action = "RSI_LONG_ENTRY" if n % 2 == 0 else "RSI_CLOSE_LONG"
        answer = serve.webhook(KEY, alert(action, "65000", id=f"faults-{n}"))
        assert answer.status_code == 200, answer.text
        done.append(serve.wait_state(answer.json()["signal_id"], {"executed", "failed", "refused"}, timeout=60))
    fake.fault_rate = 0.0
    assert len(fake.injected) >= 2 and {"lost", "timeout", "5xx"} & set(fake.injected), fake.injected
    assert [s["state"] for s in done] == ["executed"] * 10, [(s["state"], s.get("reason")) for s in done]
    btc = fake.placed("BTCUSDT")
    assert len(btc) == 10 and len({o.client_id for o in btc}) == 10  # each signal's order exactly once
    assert held(fake) == 0

    # Someone buys 2 ETH behind the desk's back: reconciliation flags the bot; adopt repairs it.
    fake.positions["ETHUSDT"].quantity += 2

    def eth_bot() -> dict[str, object]:
        listed = serve.api("GET", "/bots").raise_for_status().json()["bots"]
        return dict(next(b for b in listed if b["bot_name"] == "ETH_Approve"))

    flagged = wait_until(lambda: (b := eth_bot())["needs_attention"] and b, 15, "the ETH bot to be flagged")
    assert "ETH/USDT:USDT" in str(flagged["attention_reason"]) and "+3" in str(flagged["attention_reason"])
    adopted = serve.api("POST", "/bots/ETH_Approve/reconcile", json={"action": "adopt"})
    assert adopted.status_code == 200 and "now holds +3" in adopted.json()["message"], adopted.text
    assert not eth_bot()["needs_attention"]


def test_serve_trades_fractions_of_a_coin_exactly(
    procs: Processes, tmp_path: Path, exchange: tuple[str, FakeBinance]
) -> None:
    # Issue 28 item 5: a bots file's base_position_size = 0.01 (a TOML float), a pyramid add of
    # the alert's 0.005 and a close, through the real process; the API answers JSON numbers.
    url, fake = exchange
    accounts, _ = desk_files(tmp_path, url)
    bots = write_toml_tables(
        tmp_path / "bots_fractions.toml",
        "bots",
        [
            {
                "bot_name": "BTC_Perp",
                "symbol": "BTC/USDT:USDT",
                "tradingview_ticker": "BTCUSDT.P",
                "webhook_key": KEY,
                "accounts": ["binance-futures"],
                "mode": "auto",
                "base_position_size": 0.01,
                "allow_pyramiding": True,
                "max_positions": 2,
            }
        ],
    )
    env = exchange_desk_env(procs, tmp_path, accounts, bots)
    serve = procs.serve(env)
    entry = serve.webhook(KEY, alert("RSI_LONG_ENTRY", "65000"))
    serve.wait_state(entry.json()["signal_id"], {"executed"}, timeout=30)
    add = serve.webhook(KEY, alert("RSI_LONG_ENTRY", "65000", quantity="0.005"))
    serve.wait_state(add.json()["signal_id"], {"executed"}, timeout=30)
    assert held(fake) == Decimal("0.015")
    [position] = serve.positions()
    assert position["quantity"] == 0.015 and [e["quantity"] for e in position["entries"]] == [0.01, 0.005]
    close = serve.webhook(KEY, alert("RSI_CLOSE_LONG", "65000"))
    serve.wait_state(close.json()["signal_id"], {"executed"}, timeout=30)
    assert held(fake) == 0
    assert [str(o.quantity) for o in fake.placed()] == ["0.01", "0.005", "0.015"]
    assert [t["quantity"] for t in serve.trades()] == [0.015]
