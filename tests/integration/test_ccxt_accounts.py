"""Exchange accounts (broker = "ccxt") on both databases: `signaldesk accounts check NAME`
against the loopback fake Binance, the start-up check of the bots' symbols, and ccxt kept
out of the process until such an account is built."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.accounts_file import import_accounts, read_accounts_file
from bot.bots_file import import_bots
from bot.broker_registry import BrokerRegistry
from bot.cli import accounts as accounts_cli
from bot.exchange_symbols import check_bot_symbols
from bot.settings import Settings
from brokers.errors import RetryableBrokerError
from db.database import Database
from tests.support.fake_binance import API_KEY, API_SECRET, Contract, running_fake_binance
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig


def accounts_toml(base_url: str) -> str:
    return f"""
[[accounts]]
name = "binance-futures"
broker = "ccxt"
exchange = "binanceusdm"
api_key_env = "SD_TEST_BINANCE_KEY"
api_secret_env = "SD_TEST_BINANCE_SECRET"
password_env = ""
sandbox = false
api_base_url = "{base_url}"
options = {{ defaultType = "future" }}
"""


def bot(name: str, symbol: str) -> BotConfig:
    return BotConfig.parse(
        {
            "bot_name": name,
            "symbol": symbol,
            "tradingview_ticker": symbol.split("/")[0] + "USDT.P",
            "webhook_key": f"{name.lower()}_key_1234",
            "broker_account": "binance-futures",
        }
    )


async def setup_desk(database: Database, base_url: str, tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(accounts_toml(base_url), encoding="utf-8")
    await import_accounts(database, path, read_accounts_file(path))
    await import_bots(database, [bot("BTC_Perp", "BTC/USDT:USDT"), bot("Doge_Perp", "DOGE/USDT:USDT")])


async def cli(database_url: str, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    accounts_cli.add_parser(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    code = await accounts_cli.run(settings, parser.parse_args(["accounts", *argv]), out, err)
    return code, out.getvalue(), err.getvalue()


async def test_accounts_check_shows_balance_positions_and_the_bots_symbols(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("SD_TEST_BINANCE_SECRET", API_SECRET)
    async with running_fake_binance() as (url, fake):
        fake.set_price("BTCUSDT", fake.contracts["BTCUSDT"].price)
        fake.place_answer({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "2"})
        db = Database(database_url, passphrases=TEST_PASSPHRASES)
        try:
            await db.upgrade()
            await setup_desk(db, url, tmp_path)
        finally:
            await db.dispose()
        code, out, err = await cli(database_url, "check", "binance-futures")
        _, listed, _ = await cli(database_url, "list")
    assert f"binance-futures  ccxt     file      -         binanceusdm at {url}" in listed.splitlines(), listed
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("binance-futures") and "binanceusdm" in lines[0]
    assert "  reachable, currency USDT: balance" in out
    assert "  position: BTC/USDT:USDT long 2 @ 65,000" in out
    assert "  bot BTC_Perp: symbol BTC/USDT:USDT found (quantity 0.001 to 120, tick 0.1, settles in USDT)" in lines, out
    assert any(
        line.startswith(
            "  bot Doge_Perp: symbol DOGE/USDT:USDT NOT FOUND (binanceusdm lists no market 'DOGE/USDT:USDT'"
        )
        for line in lines
    ), out
    assert code == 1  # a bot's symbol is not on the exchange


async def test_accounts_check_with_bad_keys_says_so_and_shows_no_secret(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD_TEST_BINANCE_KEY", "not-the-key-x1")
    monkeypatch.setenv("SD_TEST_BINANCE_SECRET", "not-the-secret-x2")
    async with running_fake_binance() as (url, _fake):
        db = Database(database_url, passphrases=TEST_PASSPHRASES)
        try:
            await db.upgrade()
            await setup_desk(db, url, tmp_path)
        finally:
            await db.dispose()
        code, out, _ = await cli(database_url, "check", "binance-futures")
    assert code == 1
    assert "  unreachable: binance-futures AUTHENTICATION_FAILED: configuration problem: " in out, out
    assert "-2015" in out  # the exchange's own code and message follow
    assert "not-the-key" not in out and "not-the-secret" not in out and "bot " not in out


async def test_serve_pauses_a_bot_whose_symbol_the_exchange_does_not_list(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("SD_TEST_BINANCE_SECRET", API_SECRET)
    async with running_fake_binance() as (url, fake):
        await setup_desk(database, url, tmp_path)
        settings = Settings(_env_file=None, database_url="sqlite+aiosqlite:///unused.db")  # type: ignore[call-arg]
        registry = BrokerRegistry(settings, database)
        await registry.load()
        try:
            async with database.uow(read_only=True) as uow:
                bots = await uow.bots.list()
            refused = await check_bot_symbols(registry, database, bots)
            assert refused == [
                "bot Doge_Perp: the exchange does not list symbol 'DOGE/USDT:USDT' (account binance-futures, "
                "exchange binanceusdm): binanceusdm lists no market 'DOGE/USDT:USDT' (write the exchange's unified "
                "symbol, e.g. BTC/USDT:USDT for a USDT perpetual, BTC/USDT for spot)"
            ]
            async with database.uow(read_only=True) as uow:
                state = {b.name: (b.paused, b.paused_reason) for b in await uow.bots.list()}
            assert state["BTC_Perp"] == (False, None)
            assert state["Doge_Perp"][0] is True and "DOGE/USDT:USDT" in str(state["Doge_Perp"][1])
        finally:
            await registry.aclose()
        # The exchange lists it now: the next start lifts that pause.
        fake.contracts["DOGEUSDT"] = Contract("DOGEUSDT", "DOGE", Decimal("0.15"), tick=Decimal("0.01"))
        registry = BrokerRegistry(settings, database)
        await registry.load()
        try:
            async with database.uow(read_only=True) as uow:
                bots = await uow.bots.list()
            assert await check_bot_symbols(registry, database, bots) == []
        finally:
            await registry.aclose()
        async with database.uow(read_only=True) as uow:
            assert all(not b.paused for b in await uow.bots.list())


async def test_an_exchange_account_uses_its_own_retries_where_it_sets_them(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("SD_TEST_BINANCE_SECRET", API_SECRET)
    ticker = ("GET", "/fapi/v1/ticker/24hr")
    async with running_fake_binance() as (url, fake):
        path = tmp_path / "accounts.toml"
        own = accounts_toml(url).replace('name = "binance-futures"', 'name = "no-retries"')
        path.write_text(accounts_toml(url) + own + "retry_attempts = 0\ntimeout_seconds = 10\n", encoding="utf-8")
        await import_accounts(database, path, read_accounts_file(path))
        settings = Settings(_env_file=None, database_url="sqlite+aiosqlite:///unused.db", herenya_retry_attempts=3)  # type: ignore[call-arg]
        registry = BrokerRegistry(settings, database)
        await registry.load()
        try:
            # The account that sets none tries again (HERENYA_RETRY_ATTEMPTS): one 503 is absorbed.
            await registry("binance-futures").get_instrument("BTC/USDT:USDT")
            fake.faults.append((*ticker, "5xx"))
            quote = await registry("binance-futures").get_quote("BTC/USDT:USDT")
            assert quote.last > 0 and fake.requests.count(ticker) == 2
            # retry_attempts = 0: the same 503 is the answer, after one request.
            await registry("no-retries").get_instrument("BTC/USDT:USDT")
            fake.faults.append((*ticker, "5xx"))
            with pytest.raises(RetryableBrokerError):
                await registry("no-retries").get_quote("BTC/USDT:USDT")
            assert fake.requests.count(ticker) == 3
        finally:
            await registry.aclose()


def test_ccxt_is_imported_only_when_an_exchange_account_is_built() -> None:
    code = (
        "import sys, bot.app, bot.serve, bot.cli.main, bot.broker_registry, bot.exchange_symbols; "
        "print('ccxt' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"
