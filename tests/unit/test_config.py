"""BotConfig validation: every refusal names the field, and the example bot of bots.example.toml parses."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading.domain.config import BotConfig, BotConfigError
from trading.domain.values import BrokerName, Mode

EXAMPLE = Path(__file__).resolve().parents[2] / "bots.example.toml"


def minimal(**overrides: Any) -> dict[str, Any]:
    return {"bot_name": "SA40_RSI_Bot", "symbol": "SA40", "webhook_key": "sa40_rsi_50849a3c"} | overrides


def refusal(data: dict[str, Any]) -> BotConfigError:
    with pytest.raises(BotConfigError) as info:
        BotConfig.parse(data)
    return info.value


def lines_for(error: BotConfigError, field: str) -> list[str]:
    return [line for line in error.errors if line.startswith(f"{field}:")]


def example_bot(name: str) -> dict[str, Any]:
    bots = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["bots"]
    [bot] = [b for b in bots if b["bot_name"] == name]
    return dict(bot)


def test_example_bot_config_parses_with_every_field_as_written() -> None:
    config = BotConfig.parse(example_bot("SA40_RSI_Bot"))
    assert config.bot_name == "SA40_RSI_Bot"
    assert config.broker_account == BrokerName.HERENYA
    assert config.mode is Mode.APPROVE
    assert (config.rsi_length, config.rsi_overbought, config.rsi_oversold) == (6, Decimal(80), Decimal(25))
    assert (config.base_position_size, config.max_positions, config.allow_pyramiding) == (1, 3, True)
    assert config.stop_loss_pct == Decimal("1.5")
    assert config.take_profit_pct == Decimal("3.0")
    assert config.passphrase == "change-me"
    assert config.signing_secret is None  # "" in the file means none
    assert config.max_signal_age_seconds == 300
    assert config.max_daily_loss == Decimal(5000)
    assert config.ticker == "SA40"


def test_minimal_config_gets_the_documented_defaults() -> None:
    config = BotConfig.parse(minimal())
    assert config.mode is Mode.APPROVE
    assert config.broker_account == BrokerName.PAPER
    assert config.passphrase is None
    assert config.ticker == "SA40"


def test_tradingview_ticker_overrides_the_symbol_for_matching_alerts() -> None:
    assert BotConfig.parse(minimal(tradingview_ticker="HERENYA:SA40")).ticker == "HERENYA:SA40"


@pytest.mark.parametrize(("oversold", "overbought"), [(30, 30), (80, 20)])
def test_rsi_oversold_must_be_below_overbought(oversold: int, overbought: int) -> None:
    error = refusal(minimal(rsi_oversold=oversold, rsi_overbought=overbought))
    assert "rsi_oversold" in str(error) and "rsi_overbought" in str(error)
    assert "below" in str(error)


@pytest.mark.parametrize(
    ("field", "rule"), [("max_positions", "greater than or equal to 1"), ("base_position_size", "greater than 0")]
)
@pytest.mark.parametrize("value", [0, -1])
def test_sizes_must_be_positive(field: str, rule: str, value: int) -> None:
    error = refusal(minimal(**{field: value}))
    [line] = lines_for(error, field)
    assert rule in line


def test_base_position_size_may_be_a_fraction_of_at_most_8_decimals() -> None:
    assert BotConfig.parse(minimal(base_position_size=0.01)).base_position_size == Decimal("0.01")
    assert str(BotConfig.parse(minimal(base_position_size="0.010")).base_position_size) == "0.01"
    [line] = lines_for(refusal(minimal(base_position_size="0.000000001")), "base_position_size")
    assert "at most 8 decimals" in line


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stop_loss_pct", 0),
        ("stop_loss_pct", 100),
        ("stop_loss_pct", -1),
        ("take_profit_pct", 0),
        ("take_profit_pct", 1001),
        ("max_slippage_pct", 0),
        ("max_slippage_pct", 101),
        ("rsi_overbought", 101),
        ("rsi_oversold", -1),
    ],
)
def test_percentages_out_of_range_are_refused_naming_the_field(field: str, value: int) -> None:
    error = refusal(minimal(**{field: value}))
    assert lines_for(error, field), error.errors


@pytest.mark.parametrize(("field", "value"), [("stop_loss_pct", "99.9"), ("take_profit_pct", 1000)])
def test_percentages_at_the_edge_of_the_range_are_accepted(field: str, value: Any) -> None:
    assert getattr(BotConfig.parse(minimal(**{field: value})), field) == Decimal(str(value))


@pytest.mark.parametrize(("given", "expected"), [("auto", Mode.AUTO), ("APPROVE", Mode.APPROVE)])
def test_mode_is_auto_or_approve_in_any_case(given: str, expected: Mode) -> None:
    assert BotConfig.parse(minimal(mode=given)).mode is expected


def test_unknown_mode_is_refused_naming_mode_and_the_choices() -> None:
    error = refusal(minimal(mode="yolo"))
    [line] = lines_for(error, "mode")
    assert "'auto' or 'approve'" in line and "'yolo'" in line


@pytest.mark.parametrize(
    ("given", "expected"),
    [("herenya", BrokerName.HERENYA), ("PAPER", BrokerName.PAPER), ("Herenya", BrokerName.HERENYA)],
)
def test_broker_account_is_herenya_or_paper_in_any_case(given: str, expected: BrokerName) -> None:
    assert BotConfig.parse(minimal(broker_account=given)).broker_account == expected


def test_a_broker_account_that_cannot_be_an_account_name_is_refused() -> None:
    error = refusal(minimal(broker_account="main account!"))
    [line] = lines_for(error, "broker_account")
    assert "1 to 32 characters" in line


def test_any_account_name_is_taken_as_written_and_checked_at_import() -> None:
    # Whether "main" exists is known only where the accounts are: at import.
    assert BotConfig.parse(minimal(broker_account="main")).broker_account == "main"


def test_accounts_with_one_name_is_broker_account_and_compares_equal() -> None:
    listed = BotConfig.parse(minimal(accounts=["main"]))
    assert listed.broker_account == "main" and listed.accounts is None
    assert listed == BotConfig.parse(minimal(broker_account="main"))
    # Herenya and Paper keep their spelling in any case, through `accounts` too.
    assert BotConfig.parse(minimal(accounts=["herenya"])).broker_account == "Herenya"
    assert BotConfig.parse(minimal(accounts=["main"], broker_account="main")).broker_account == "main"


def test_a_bot_on_several_accounts_keeps_them_with_broker_account_the_first() -> None:
    config = BotConfig.parse(
        minimal(accounts=["main", "paper"], account_sizes={"PAPER": 2}, account_symbols={"main": "SA40.M"})
    )
    assert (config.broker_account, config.accounts, config.account_names) == (
        "main",
        ("main", "Paper"),
        ("main", "Paper"),
    )
    assert (config.size_on("Paper"), config.size_on("main")) == (Decimal(2), Decimal(1))
    assert (config.symbol_on("main"), config.symbol_on("Paper")) == ("SA40.M", "SA40")
    # Read back as stored (broker_account written beside the list), it is the same config.
    assert BotConfig.parse(config.model_dump()) == config


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"account_sizes": {"prop": 2}}, "account_sizes", "'prop' is not one of the bot's accounts (main, demo)"),
        ({"account_symbols": {"prop": "X"}}, "account_symbols", "'prop' is not one of the bot's accounts"),
        ({"account_sizes": {"demo": 0}}, "account_sizes", "demo: must be a number above 0"),
        ({"account_sizes": {"demo": -1}}, "account_sizes", "demo: must be a number above 0"),
        ({"account_symbols": {"demo": " "}}, "account_symbols", "demo: the symbol must be 1 to 32 characters"),
        ({"broker_account": "demo"}, "accounts", "starts with 'main' but broker_account names 'demo'"),
        ({"accounts": ["main", "bad name"]}, "accounts", "'bad name' must be 1 to 32 characters"),
    ],
)
def test_account_sizes_and_symbols_name_only_the_bots_accounts(fields: dict[str, Any], field: str, says: str) -> None:
    error = refusal(minimal(accounts=["main", "demo"]) | fields)
    [line] = lines_for(error, field)
    assert says in line


@pytest.mark.parametrize(
    ("accounts", "says"),
    [
        ("main", "must be a list of account names"),
        ([], "must be a list of account names"),
        (["main", "main"], "more than once"),
        ([1], "every entry must be an account name"),
        (["bad name"], "1 to 32 characters"),
    ],
)
def test_bad_accounts_lists_are_refused_naming_the_field(accounts: Any, says: str) -> None:
    error = refusal(minimal(accounts=accounts))
    field = "broker_account" if says == "1 to 32 characters" else "accounts"
    [line] = lines_for(error, field)
    assert says in line


def test_accounts_and_broker_account_must_agree() -> None:
    error = refusal(minimal(accounts=["main"], broker_account="prop"))
    [line] = lines_for(error, "accounts")
    assert "'main'" in line and "'prop'" in line


def test_unknown_field_is_refused_by_name() -> None:
    error = refusal(minimal(rsi_lenght=6))
    assert error.errors == ["rsi_lenght: unknown field"]


@pytest.mark.parametrize("field", ["symbol", "webhook_key", "bot_name"])
def test_missing_required_field_is_named(field: str) -> None:
    data = minimal()
    del data[field]
    error = refusal(data)
    assert f"{field}: is required" in error.errors


def test_every_bad_field_gets_its_own_line_and_the_bot_is_named() -> None:
    error = refusal(minimal(max_positions=0, mode="yolo", webhook_key="short", colour="red"))
    fields = sorted(line.split(":", 1)[0] for line in error.errors)
    assert fields == ["colour", "max_positions", "mode", "webhook_key"]
    assert error.bot_name == "SA40_RSI_Bot"
    assert str(error).startswith("bot 'SA40_RSI_Bot': ")


def test_error_for_a_config_without_a_name_says_it_is_unnamed() -> None:
    data = minimal()
    del data["bot_name"]
    assert refusal(data).bot_name == "<unnamed>"


@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 129])
def test_webhook_key_shape_is_enforced(key: str) -> None:
    error = refusal(minimal(webhook_key=key))
    [line] = lines_for(error, "webhook_key")
    assert "8 to 128 characters" in line


def test_bad_bot_name_is_refused_naming_it() -> None:
    error = refusal(minimal(bot_name="SA40 RSI bot!"))
    assert lines_for(error, "bot_name")


def test_empty_passphrase_and_signing_secret_mean_none() -> None:
    config = BotConfig.parse(minimal(passphrase="", signing_secret="", tradingview_ticker=""))
    assert (config.passphrase, config.signing_secret, config.tradingview_ticker) == (None, None, None)


def test_config_is_frozen() -> None:
    config = BotConfig.parse(minimal())
    with pytest.raises(ValueError, match="frozen"):
        config.mode = Mode.AUTO  # type: ignore[misc]


def test_passphrase_value_is_not_in_the_error_for_another_field() -> None:
    error = refusal(minimal(passphrase="s3cret-value", max_positions=0))
    assert "s3cret-value" not in str(error)


def test_passphrase_of_the_wrong_type_is_named_without_echoing_it() -> None:
    error = refusal(minimal(passphrase=987654321))
    [line] = lines_for(error, "passphrase")
    assert "987654321" not in str(error)
    assert "string" in line


def test_given_the_configured_accounts_every_listed_name_is_checked() -> None:
    known = ["Herenya", "Paper", "main"]
    assert BotConfig.parse(minimal(accounts=["main"]), accounts=known).broker_account == "main"
    [line] = lines_for(refusal_with(minimal(accounts=["prop"]), known), "accounts")
    assert line == "accounts: no account named 'prop' (the accounts: Herenya, Paper, main)"
    [line] = lines_for(refusal_with(minimal(accounts=["main", "prop", "paper"]), known), "accounts")
    assert line == "accounts: no account named 'prop' (the accounts: Herenya, Paper, main)"
    assert BotConfig.parse(minimal(accounts=["main", "paper"]), accounts=known).accounts == ("main", "Paper")


def refusal_with(data: dict[str, Any], accounts: list[str]) -> BotConfigError:
    with pytest.raises(BotConfigError) as info:
        BotConfig.parse(data, accounts=accounts)
    return info.value
