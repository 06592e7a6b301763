"""The example alert bodies parse as their file names say (see examples/alerts/README.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from trading.domain.alerts import AlertError, parse_alert
from trading.domain.signals import AlertShape, SignalAction
from web.errors import status_for

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.is_file():
        pytest.fail(f"sample alert {path} is missing: the samples live in examples/alerts in the repository")
    return path.read_bytes()


def sample_names(*, bad: bool) -> list[str]:
    """The good (or bad_*) sample files; collecting from a missing or empty folder is an error, never a skip."""
    assert SAMPLES.is_dir(), f"sample alerts folder {SAMPLES} is missing"
    names = sorted(
        p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".txt") and p.name.startswith("bad_") == bad
    )
    assert names, f"no {'bad_*' if bad else 'good'} samples in {SAMPLES}"
    return names


def test_the_samples_folder_holds_good_and_bad_samples() -> None:
    assert len(sample_names(bad=False)) >= 6
    assert len(sample_names(bad=True)) >= 5


def test_rsi_long_entry_enters_long_at_its_price() -> None:
    signal = parse_alert(sample("rsi_long_entry.json"), "application/json")
    assert signal.action is SignalAction.ENTER_LONG
    assert signal.shape is AlertShape.RSI
    assert signal.price == Decimal("53210.5")
    assert signal.time == datetime(2023, 1, 1, 12, 34, 56, tzinfo=UTC)
    assert signal.message == "RSI_LONG_ENTRY"


def test_rsi_close_long_closes_the_long() -> None:
    signal = parse_alert(sample("rsi_close_long.json"), "application/json")
    assert signal.action is SignalAction.CLOSE_LONG
    assert signal.price == Decimal("53480.0")


def test_rsi_short_entry_with_extras_carries_levels_id_and_passphrase() -> None:
    signal = parse_alert(sample("rsi_short_entry_with_extras.json"), "application/json")
    assert signal.action is SignalAction.ENTER_SHORT
    assert signal.price == Decimal("53950.5")  # sent as the string "53950.5"
    assert signal.stop_loss == Decimal(54500)
    assert signal.take_profit == Decimal(52400)
    assert signal.alert_id == "SA40-2023-01-02T08:00:00Z-short"
    assert signal.passphrase == "change-me"
    assert signal.ticker == "SA40"
    assert signal.rsi == Decimal("83.2")
    assert "change-me" not in repr(signal)


def test_order_message_entry_takes_the_long_levels_for_a_buy() -> None:
    signal = parse_alert(sample("order_message_entry.json"), "text/plain")
    assert signal.action is SignalAction.ENTER_LONG
    assert signal.shape is AlertShape.ORDER_MESSAGE
    assert signal.price == Decimal("53120.0")
    assert signal.stop_loss == Decimal("52600.5")
    assert signal.take_profit == Decimal("54150.0")
    assert signal.extras == {"exchange": "HERENYA", "subaccount": "Testing"}


def test_order_message_breakeven_moves_the_stop() -> None:
    signal = parse_alert(sample("order_message_breakeven.json"), "application/json")
    assert signal.action is SignalAction.BREAKEVEN
    assert signal.shape is AlertShape.ORDER_MESSAGE
    # tp1_breakeven without "tp Close": only the stop moves, nothing is taken off.
    assert signal.reduce_pct is None
    assert signal.message == "tp1_breakeven"


def test_strategy_placeholders_filled_reverses_into_one_short() -> None:
    signal = parse_alert(sample("strategy_placeholders_filled.json"), "text/plain")
    assert signal.action is SignalAction.ENTER_SHORT
    assert signal.shape is AlertShape.STRATEGY
    assert signal.quantity == 1
    assert signal.target_position == -1
    assert signal.price == Decimal("53322.5")
    assert signal.alert_id == "Short"


GOOD = sample_names(bad=False)
BAD = sample_names(bad=True)


@pytest.mark.parametrize("name", GOOD)
def test_every_good_sample_parses(name: str) -> None:
    signal = parse_alert(sample(name), None)
    assert signal.price > 0


# What each refused sample must name: the field, or the placeholder left in it.
NAMED = {
    "bad_400_not_json.txt": ("not_json", None, "not JSON"),
    "bad_422_missing_price.json": ("missing_field", "price", '"price"'),
    "bad_422_placeholder_string.json": ("unreplaced_placeholder", "price", "{{close}}"),
    "bad_422_unknown_action.json": ("unknown_action", "action", "RSI_MOON_ENTRY"),
    "bad_422_unreplaced_placeholder.txt": ("unreplaced_placeholder", "price", "{{close}}"),
}


def test_every_bad_sample_has_an_expectation() -> None:
    assert set(BAD) == set(NAMED), "a bad_* sample was added or removed; say here what it must name"


@pytest.mark.parametrize("name", BAD)
def test_every_bad_sample_is_refused_with_the_status_in_its_name(name: str) -> None:
    match = re.match(r"bad_(\d{3})_", name)
    assert match, f"{name} does not carry a status in its name"
    with pytest.raises(AlertError) as info:
        parse_alert(sample(name), "text/plain")
    code, field, named = NAMED[name]
    assert status_for(info.value.code) == int(match.group(1))  # the answer the webhook gives
    assert info.value.code == code
    assert info.value.field == field
    assert named in str(info.value)
