"""Accounts in the database: `signaldesk accounts import|list|check` on both databases, bots
refused for an unknown account, and a database of the previous release migrated with its bots."""

from __future__ import annotations

import argparse
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.accounts_file import AccountsFileError, import_accounts, read_accounts_file
from bot.bots_file import BotsFileError, import_bots
from bot.broker_registry import BrokerRegistry
from bot.cli import accounts as accounts_cli
from bot.cli import bots as bots_cli
from bot.settings import Settings
from db.database import Database
from db.migrate import run_upgrade
from db.models import AccountRow, table_of
from tests.integration.db_support import T0
from tests.integration.web_support import make_deps
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig
from trading.domain.market import OrderRequest
from trading.domain.values import OrderSide
from web.app import create_app

ACCOUNTS = """
[[accounts]]
name = "main"
broker = "herenya"
base_url = "http://127.0.0.1:9"
account_id = "A1"
api_key_env = "SD_TEST_MAIN_KEY"
api_secret_env = "SD_TEST_MAIN_SECRET"

[[accounts]]
name = "demo"
broker = "paper"
currency = "USD"
starting_balance = 2500
quotes_from = "main"
"""


def accounts_file(tmp_path: Path, text: str = ACCOUNTS, name: str = "accounts.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def cli(database_url: str, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    accounts_cli.add_parser(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    code = await accounts_cli.run(settings, parser.parse_args(["accounts", *argv]), out, err)
    return code, out.getvalue(), err.getvalue()


def bot(name: str, **fields: object) -> BotConfig:
    return BotConfig.parse({"bot_name": name, "symbol": "SA40", "webhook_key": f"{name.lower()}_key_1234", **fields})


async def test_import_creates_updates_and_leaves_unchanged(database: Database, tmp_path: Path) -> None:
    path = accounts_file(tmp_path)
    first = await import_accounts(database, path, read_accounts_file(path))
    assert [(r.name, r.outcome) for r in first] == [("main", "created"), ("demo", "created")]
    again = await import_accounts(database, path, read_accounts_file(path))
    assert [r.outcome for r in again] == ["unchanged", "unchanged"]
    changed = accounts_file(tmp_path, ACCOUNTS.replace("2500", "3000"))
    assert [r.outcome for r in await import_accounts(database, changed, read_accounts_file(changed))] == [
        "unchanged",
        "updated",
    ]
    async with database.uow(read_only=True) as uow:
        demo = await uow.accounts.get("demo")
        rows = (await uow.execute(select(table_of(AccountRow)))).all()
        audit = [e for e in await uow.audit.list(limit=10) if e.action == "accounts import"]
    assert demo is not None and demo.broker == "paper" and str(demo.starting_balance) == "3000"
    # Only the variables' names are stored.
    main = next(r for r in rows if r.name == "main")
    assert main.settings["api_key_env"] == "SD_TEST_MAIN_KEY" and "api_key" not in main.settings
    assert sorted((e.target, e.detail) for e in audit) == [
        ("account:demo", "created"),
        ("account:demo", "updated"),
        ("account:main", "created"),
    ]


async def test_a_bad_file_imports_nothing(database: Database, tmp_path: Path) -> None:
    text_ = ACCOUNTS + '\n[[accounts]]\nname = "MAIN"\nbroker = "paper"\ncurrency = "ZAR"\nstarting_balance = 1\n'
    path = accounts_file(tmp_path, text_)
    with pytest.raises(AccountsFileError) as info:
        await import_accounts(database, path, read_accounts_file(path))
    assert f"{path}: account MAIN: name: appears more than once in the file (names are compared in any case)" in (
        info.value.lines
    )
    async with database.uow(read_only=True) as uow:
        assert await uow.accounts.list() == []


async def test_quotes_from_may_name_a_stored_account(database: Database, tmp_path: Path) -> None:
    await import_accounts(database, "a.toml", read_accounts_file(accounts_file(tmp_path)))
    later = accounts_file(
        tmp_path,
        '[[accounts]]\nname = "demo2"\nbroker = "paper"\ncurrency = "ZAR"\nstarting_balance = 1\nquotes_from = "main"\n'
        '[[accounts]]\nname = "Demo"\nbroker = "paper"\ncurrency = "ZAR"\nstarting_balance = 1\n',
        "later.toml",
    )
    with pytest.raises(AccountsFileError) as info:
        await import_accounts(database, later, read_accounts_file(later))
    assert info.value.lines == [f"{later}: account Demo: name: differs only in case from the stored account demo"]


async def test_a_bot_on_an_unknown_account_is_refused_naming_bot_field_and_account(database: Database) -> None:
    with pytest.raises(BotsFileError) as info:
        await import_bots(database, [bot("Prop_Bot", broker_account="prop"), bot("Main_Bot", accounts=["main"])])
    assert info.value.lines == [
        "bot Prop_Bot: broker_account: no account named 'prop' (the accounts: Herenya, Paper)",
        "bot Main_Bot: accounts: no account named 'main' (the accounts: Herenya, Paper)",
    ]
    async with database.uow(read_only=True) as uow:
        assert await uow.bots.list() == []


async def test_a_bot_on_a_stored_account_imports_and_reads_back(database: Database, tmp_path: Path) -> None:
    await import_accounts(database, "a.toml", read_accounts_file(accounts_file(tmp_path)))
    results = await import_bots(
        database, [bot("Main_Bot", accounts=["main"]), bot("Old_Bot", broker_account="HERENYA")]
    )
    assert [r.outcome for r in results] == ["created", "created"]
    again = await import_bots(database, [bot("Main_Bot", accounts=["main"]), bot("Old_Bot", broker_account="herenya")])
    assert [r.outcome for r in again] == ["unchanged", "unchanged"]
    async with database.uow(read_only=True) as uow:
        stored = {b.name: b.config.broker_account for b in await uow.bots.list()}
    assert stored == {"Main_Bot": "main", "Old_Bot": "Herenya"}


async def test_cli_import_list_and_check_a_paper_account(database_url: str, tmp_path: Path) -> None:
    path = accounts_file(tmp_path, ACCOUNTS.replace('quotes_from = "main"\n', ""))
    code, out, err = await cli(database_url, "import", str(path))
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == ["created    main", "created    demo"]

    code, out, _ = await cli(database_url, "list")
    lines = [line.split(None, 4) for line in out.splitlines()]
    assert lines[0] == ["NAME", "BROKER", "FROM", "CURRENCY", "WHERE"]
    assert [row[:4] for row in lines[1:]] == [
        ["Herenya", "herenya", "settings", "-"],
        ["Paper", "paper", "settings", "ZAR"],
        ["demo", "paper", "file", "USD"],
        ["main", "herenya", "file", "-"],
    ]
    assert lines[4][4] == "http://127.0.0.1:9 account A1"

    code, out, err = await cli(database_url, "check", "demo")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "demo (paper, paper book from 2500)",
        "  reachable, currency USD: balance 2,500.00, equity 2,500.00",
        "  positions: none",
    ]


async def test_cli_check_names_the_account_and_the_missing_variable(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SD_TEST_MAIN_KEY", raising=False)
    monkeypatch.setenv("SD_TEST_MAIN_SECRET", "s3cr3t-value")
    monkeypatch.chdir(tmp_path)  # no .env here
    await cli(database_url, "import", str(accounts_file(tmp_path)))
    code, out, _ = await cli(database_url, "check", "main")
    assert code == 1
    assert out.splitlines()[1] == (
        "  unreachable: Herenya CONFIG: account main: environment variable SD_TEST_MAIN_KEY is not set "
        "(api_key_env, api_secret_env: its key and secret)"
    )
    assert "s3cr3t" not in out
    code, _, err = await cli(database_url, "check", "prop")
    assert (code, err) == (1, "error: no account named 'prop' (the accounts: Herenya, Paper, demo, main)\n")


async def test_cli_import_of_a_bad_file_names_file_account_and_field(database_url: str, tmp_path: Path) -> None:
    path = accounts_file(tmp_path, '[[accounts]]\nname = "x"\nbroker = "ccxt"\nexchange = "binanceusdm"\n')
    code, out, err = await cli(database_url, "import", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}: account x: api_key_env: is required",
        f"{path}: account x: api_secret_env: is required",
        "nothing was imported",
    ]


async def test_a_database_of_the_previous_release_migrates_with_its_bots(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url, passphrases=TEST_PASSPHRASES)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(run_upgrade, "0008_decider_names")
            await conn.commit()
        at: object = T0 if db.is_postgresql else T0.strftime("%Y-%m-%d %H:%M:%S.%f")
        async with db.engine.connect() as conn:
            for name, account, key in (("Old_Herenya", "Herenya", "h"), ("Old_Paper", "Paper", "p")):
                bot_id = (
                    await conn.execute(
                        text(
                            "INSERT INTO trading_bots (bot_name, platform, broker_account, symbol, is_active, mode, "
                            "base_position_size, max_positions, allow_pyramiding, exit_on_opposite_signal, "
                            "approval_timeout_minutes, max_signal_age_seconds, order_timeout_seconds, "
                            "webhook_key_hash, webhook_key_hint, paused, needs_attention, created_at, updated_at) "
                            "VALUES (:name, 'TradingView', :account, 'SA40', :yes, 'auto', 1, 1, :no, :yes, 15, 300, "
                            "300, :hash, '9a3c', :no, :no, :at, :at) RETURNING id"
                        ),
                        {"name": name, "account": account, "yes": True, "no": False, "at": at, "hash": key * 64},
                    )
                ).scalar_one()
                await conn.execute(
                    text(
                        "INSERT INTO strategy_configs (bot_id, strategy_type, timeframe, rsi_length, rsi_overbought, "
                        "rsi_oversold) VALUES (:bot, 'RSI', '4h', 14, 70, 30)"
                    ),
                    {"bot": bot_id},
                )
            await conn.commit()

        await db.upgrade()

        async with db.uow(read_only=True) as uow:
            bots = {b.name: b.config.broker_account for b in await uow.bots.list()}
            assert await uow.accounts.list() == []
        assert bots == {"Old_Herenya": "Herenya", "Old_Paper": "Paper"}
        # The old bots still import unchanged, and accounts can be added beside them.
        await import_accounts(db, "a.toml", read_accounts_file(accounts_file(tmp_path)))
        async with db.uow(read_only=True) as uow:
            assert [a.name for a in await uow.accounts.list()] == ["demo", "main"]
    finally:
        await db.dispose()


async def test_api_lists_accounts_with_balance_and_positions_and_no_secret(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD_TEST_MAIN_KEY", "key-value-never-shown")
    monkeypatch.setenv("SD_TEST_MAIN_SECRET", "secret-value-never-shown")
    monkeypatch.chdir(tmp_path)
    await import_accounts(
        database, "a.toml", read_accounts_file(accounts_file(tmp_path, ACCOUNTS.replace('quotes_from = "main"\n', "")))
    )
    settings = Settings(_env_file=None, database_url=database.url)  # type: ignore[call-arg]
    registry = BrokerRegistry(settings, database)
    await registry.load()
    try:
        order = OrderRequest("sd-1-0", "SA40", OrderSide.BUY, 2, reference_price=Decimal("100.5"))
        assert (await registry("demo").place_order(order)).filled_quantity == 2
        app = create_app(make_deps(database, api_token="accounts-token-0123456789", accounts=registry.statuses))
        response = await app.test_client().get(
            "/api/accounts", headers={"Authorization": "Bearer accounts-token-0123456789"}
        )
        assert response.status_code == 200
        body = await response.get_data(as_text=True)
        accounts = {a["name"]: a for a in json.loads(body)["accounts"]}
    finally:
        await registry.aclose()
    assert list(accounts) == ["Herenya", "Paper", "demo", "main"]
    assert accounts["Herenya"] == {
        "name": "Herenya",
        "broker": "herenya",
        "source": "settings",
        "currency": None,
        "reachable": None,
        "balance": None,
        "equity": None,
        "positions": [],
        "problem": "not configured (HERENYA_BASE_URL unset)",
    }
    demo = accounts["demo"]
    assert (demo["source"], demo["currency"], demo["reachable"]) == ("file", "USD", True)
    assert Decimal(demo["balance"]) == Decimal(2500)
    [held] = demo["positions"]
    assert (held["symbol"], held["side"], held["quantity"], Decimal(held["average_price"])) == (
        "SA40",
        "long",
        2,
        Decimal("100.5"),
    )
    assert accounts["Paper"]["reachable"] is True and accounts["Paper"]["positions"] == []
    # main points at a closed port: unreachable, with the reason, never a key.
    assert accounts["main"]["reachable"] is False and accounts["main"]["problem"]
    assert "never-shown" not in body


async def test_cli_bots_import_names_every_unknown_account_of_a_list(database_url: str, tmp_path: Path) -> None:
    await cli(database_url, "import", str(accounts_file(tmp_path)))
    bots = tmp_path / "bots.toml"
    bots.write_text(
        '[[bots]]\nbot_name = "Two"\nsymbol = "SA40"\nwebhook_key = "two_key_12345"\naccounts = ["main", "prop"]\n\n'
        '[[bots]]\nbot_name = "One"\nsymbol = "SA40"\nwebhook_key = "one_key_12345"\naccounts = ["Demo"]\n',
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    code = await bots_cli.run(settings, argparse.Namespace(bots_command="import", file=str(bots)), out, err)
    assert code == 1
    assert err.getvalue().splitlines() == [
        "bot Two: accounts: no account named 'prop' (the accounts: Herenya, Paper, demo, main)",
        "bot One: accounts: no account named 'Demo'; did you mean 'demo'?",
        "nothing was imported",
    ]
