"""The accounts file's rules: each [[accounts]] table, what is refused and how it is said."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.accounts_file import AccountsFileError, read_accounts_file, unknown_bot_accounts
from bot.broker_registry import missing_secrets, read_environment
from trading.domain.accounts import (
    AccountConfigError,
    CcxtAccount,
    HerenyaAccount,
    PaperAccount,
    cross_check,
    parse_account,
    stored_settings,
)
from trading.domain.config import BotConfig


def herenya(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "broker": "herenya",
        "base_url": "https://api.herenya.example",
        "account_id": "A1",
        "api_key_env": "HERENYA_MAIN_KEY",
        "api_secret_env": "HERENYA_MAIN_SECRET",
    } | overrides


def paper(**overrides: Any) -> dict[str, Any]:
    return {"name": "demo", "broker": "paper", "currency": "USD", "starting_balance": 5000} | overrides


def refusal(table: dict[str, Any]) -> AccountConfigError:
    with pytest.raises(AccountConfigError) as info:
        parse_account(table)
    return info.value


def test_the_issue_example_parses_as_written() -> None:
    account = parse_account(herenya())
    assert isinstance(account, HerenyaAccount)
    assert (account.name, account.base_url, account.account_id) == ("main", "https://api.herenya.example", "A1")
    assert account.secret_envs == ("HERENYA_MAIN_KEY", "HERENYA_MAIN_SECRET")


def test_a_paper_account_takes_currency_balance_and_quotes_from() -> None:
    account = parse_account(paper(currency="usd", quotes_from="main"))
    assert isinstance(account, PaperAccount)
    assert (account.currency, account.starting_balance, account.quotes_from) == ("USD", Decimal(5000), "main")
    assert parse_account(paper(quotes_from="")).quotes_from is None


def ccxt(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "binance-futures",
        "broker": "ccxt",
        "exchange": "binanceusdm",
        "api_key_env": "BINANCE_KEY",
        "api_secret_env": "BINANCE_SECRET",
        "password_env": "",
        "sandbox": False,
        "api_base_url": "",
        "options": {"defaultType": "future"},
    } | overrides


def test_the_issue_ccxt_example_parses_as_written() -> None:
    account = parse_account(ccxt())
    assert isinstance(account, CcxtAccount)
    assert (account.exchange, account.sandbox, account.api_base_url, account.options) == (
        "binanceusdm",
        False,
        "",
        {"defaultType": "future"},
    )
    assert account.secret_envs == ("BINANCE_KEY", "BINANCE_SECRET")
    assert parse_account(ccxt(password_env="OKX_PASS", exchange="okx")).secret_envs == (
        "BINANCE_KEY",
        "BINANCE_SECRET",
        "OKX_PASS",
    )
    required = ("name", "broker", "exchange", "api_key_env", "api_secret_env")
    only_required = parse_account({k: v for k, v in ccxt().items() if k in required})
    assert isinstance(only_required, CcxtAccount)
    assert (only_required.password_env, only_required.sandbox, only_required.api_base_url, only_required.options) == (
        "",
        False,
        "",
        {},
    )
    rebased = parse_account(ccxt(api_base_url="http://127.0.0.1:8080/"))
    assert isinstance(rebased, CcxtAccount) and rebased.api_base_url == "http://127.0.0.1:8080"
    assert stored_settings(account) == {k: v for k, v in ccxt().items() if k not in ("name", "broker")}


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"exchange": "Binance!"},
            "exchange: must be a ccxt exchange id such as binanceusdm, bybit or okx, not 'Binance!'",
        ),
        ({"api_key_env": "sk-live/abc"}, "api_key_env: must be the name of an environment variable"),
        ({"password_env": "hunter 2"}, "password_env: must be the name of an environment variable"),
        ({"api_base_url": "testnet.binancefuture.com"}, "api_base_url: must be a scheme and host (and port)"),
        ({"api_base_url": "https://host/fapi/v1"}, "api_base_url: must be a scheme and host (and port)"),
        ({"options": {"secret": "s3cr3t"}}, "options: secret: secrets are never written in the accounts file"),
        ({"api_secret": "s3cr3t"}, "api_secret: secrets are never written in the accounts file"),
        ({"sandbox": "maybe"}, "sandbox: Input should be a valid boolean"),
        ({"leverage": 10}, "leverage: unknown field"),
    ],
)
def test_a_bad_ccxt_account_is_refused_naming_the_field_never_the_secret(overrides: dict[str, Any], line: str) -> None:
    error = refusal(ccxt(**overrides))
    assert any(e.startswith(line) for e in error.errors), error.errors
    assert "s3cr3t" not in str(error) and "sk-live" not in str(error) and "hunter" not in str(error)


def test_a_ccxt_account_without_its_secrets_set_names_the_variables() -> None:
    account = parse_account(ccxt(password_env="OKX_PASS"))
    assert isinstance(account, CcxtAccount)
    problem = missing_secrets(account, {"BINANCE_KEY": "k"})
    assert problem is not None
    assert problem.message == (
        "account binance-futures: environment variables BINANCE_SECRET and OKX_PASS are not set "
        "(api_key_env, api_secret_env, password_env: its key and secret)"
    )
    assert missing_secrets(account, {"BINANCE_KEY": "k", "BINANCE_SECRET": "s", "OKX_PASS": "p"}) is None


@pytest.mark.parametrize(
    ("table", "line"),
    [
        (herenya(broker="ibkr"), 'broker: must be "herenya", "paper" or "ccxt", not \'ibkr\''),
        ({"name": "main"}, 'broker: is required ("herenya", "paper" or "ccxt")'),
        (herenya(base_url="api.herenya.example"), "base_url: must be an http:// or https:// address"),
        (herenya(account_id=""), "account_id: String should have at least 1 character"),
        (paper(currency="rand"), "currency: must be a three-letter currency code"),
        (paper(starting_balance=0), "starting_balance: Input should be greater than 0"),
        (herenya(leverage=3), "leverage: unknown field"),
        (herenya(name="main account"), "name: must be 1 to 32 characters"),
        (paper(name="PAPER"), "name: 'PAPER' is the account the PAPER_* settings define"),
        (herenya(name="herenya"), "name: 'herenya' is the account the HERENYA_* settings define"),
        (herenya(timeout_seconds=0), "timeout_seconds: Input should be greater than 0"),
        (ccxt(timeout_seconds=600), "timeout_seconds: Input should be less than or equal to 300"),
        (ccxt(retry_attempts=-1), "retry_attempts: Input should be greater than or equal to 0"),
        (paper(timeout_seconds=5), "timeout_seconds: unknown field"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(table: dict[str, Any], line: str) -> None:
    error = refusal(table)
    assert any(e.startswith(line) for e in error.errors), error.errors


def test_an_account_over_http_may_set_its_own_timeout_and_retries() -> None:
    """Unset they are None: the registry then uses HERENYA_TIMEOUT and HERENYA_RETRY_ATTEMPTS."""
    for table in (herenya(), ccxt()):
        account = parse_account(table)
        assert isinstance(account, HerenyaAccount | CcxtAccount)
        assert (account.timeout_seconds, account.retry_attempts) == (None, None)
    exchange = parse_account(ccxt(timeout_seconds=7.5, retry_attempts=0))
    assert isinstance(exchange, CcxtAccount)
    assert (exchange.timeout_seconds, exchange.retry_attempts) == (7.5, 0)
    assert stored_settings(exchange)["timeout_seconds"] == 7.5


def test_a_secret_written_in_the_file_is_refused_and_never_repeated() -> None:
    error = refusal(herenya(api_key="sk-live-123", api_key_env="sk-live-456"))
    text = str(error)
    assert "api_key: secrets are never written in the accounts file" in text
    assert "api_key_env: must be the name of an environment variable" in text
    assert "sk-live" not in text


def test_names_quotes_and_case_are_checked_across_accounts() -> None:
    accounts = [
        parse_account(herenya()),
        parse_account(herenya(name="Main", account_id="A2")),
        parse_account(paper(quotes_from="nowhere")),
        parse_account(paper(name="demo2", quotes_from="demo")),
        parse_account(paper(name="demo3", quotes_from="Herenya")),
    ]
    errors = cross_check(accounts)
    assert "account Main: name: appears more than once in the file (names are compared in any case)" in errors
    assert any(e.startswith("account demo: quotes_from: no account named 'nowhere'") for e in errors)
    assert "account demo2: quotes_from: 'demo' is a paper account; name a herenya one" in errors
    assert not any(e.startswith("account demo3") for e in errors)  # the settings' Herenya quotes too


def test_stored_settings_hold_no_secret_only_variable_names() -> None:
    stored = stored_settings(parse_account(herenya()))
    assert stored == {
        "base_url": "https://api.herenya.example",
        "account_id": "A1",
        "api_key_env": "HERENYA_MAIN_KEY",
        "api_secret_env": "HERENYA_MAIN_SECRET",
    }
    assert parse_account({**stored, "name": "main", "broker": "herenya"}) == parse_account(herenya())


def test_a_missing_variable_names_the_account_and_the_variable_never_a_value() -> None:
    account = parse_account(herenya())
    assert isinstance(account, HerenyaAccount)
    problem = missing_secrets(account, {"HERENYA_MAIN_KEY": "k-123"})
    assert problem is not None
    assert "account main: environment variable HERENYA_MAIN_SECRET is not set" in str(problem)
    assert "k-123" not in str(problem)
    assert missing_secrets(account, {"HERENYA_MAIN_KEY": "k", "HERENYA_MAIN_SECRET": "s"}) is None


def test_secrets_are_read_from_the_environment_then_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SD_TEST_KEY=from-file\nSD_TEST_SECRET=file-secret\n", encoding="utf-8")
    monkeypatch.setenv("SD_TEST_KEY", "from-env")
    monkeypatch.delenv("SD_TEST_SECRET", raising=False)
    monkeypatch.delenv("SD_TEST_NONE", raising=False)
    found = read_environment(["SD_TEST_KEY", "SD_TEST_SECRET", "SD_TEST_NONE"], env_file)
    assert found == {"SD_TEST_KEY": "from-env", "SD_TEST_SECRET": "file-secret"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_reads_every_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[accounts]]\nname = "main"\nbroker = "herenya"\nbase_url = "http://127.0.0.1:8900"\naccount_id = "A1"\n'
        'api_key_env = "K"\napi_secret_env = "S"\n\n'
        '[[accounts]]\nname = "demo"\nbroker = "paper"\ncurrency = "ZAR"\nstarting_balance = 1000\n',
    )
    assert [a.name for a in read_accounts_file(path)] == ["main", "demo"]


def test_errors_name_the_file_the_account_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[[accounts]]\nname = "demo"\nbroker = "paper"\ncurrency = "ZAR"\n\n[[accounts]]\nbroker = "paper"\n'
    )
    with pytest.raises(AccountsFileError) as info:
        read_accounts_file(path)
    assert f"{path}: account demo: starting_balance: is required" in info.value.lines
    assert f"{path}: account #2 (no name): name: is required" in info.value.lines


def test_toml_errors_give_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[accounts]]\nname = "demo"\nbroker = paper\n')
    with pytest.raises(AccountsFileError) as info:
        read_accounts_file(path)
    [line] = info.value.lines
    assert line.startswith(f"{path}: not valid TOML: ") and "line 3" in line


def test_a_file_without_accounts_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[[bots]]\nbot_name = "x"\n')
    with pytest.raises(AccountsFileError) as info:
        read_accounts_file(path)
    assert info.value.lines == [f"{path}: no [[accounts]] tables found"]


def test_a_bot_naming_an_unknown_account_is_named_with_its_field() -> None:
    base = {"symbol": "SA40", "webhook_key": "sa40_key_12345"}
    bots = [
        BotConfig.parse({**base, "bot_name": "A", "broker_account": "prop"}),
        BotConfig.parse({**base, "bot_name": "B", "accounts": ["Main"]}),
        BotConfig.parse({**base, "bot_name": "C", "broker_account": "herenya"}),
        BotConfig.parse({**base, "bot_name": "D", "broker_account": "main"}),
    ]
    assert unknown_bot_accounts(bots, ["Herenya", "Paper", "main"]) == [
        "bot A: broker_account: no account named 'prop' (the accounts: Herenya, Paper, main)",
        "bot B: accounts: no account named 'Main'; did you mean 'main'?",
    ]
