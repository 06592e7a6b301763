"""Quantities: exact decimals, rounded down to the instrument's step, whole contracts refused
as fractions on Herenya and paper, shown and sent as plain numbers."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from tests.unit.test_engine import T0, config
from trading.domain import display, quantities
from trading.domain.config import BotConfig
from trading.domain.engine import plan
from trading.domain.market import Instrument
from trading.domain.position import Entry, Position
from trading.domain.records import SignalEdits
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import PositionSide

BTC = Instrument(
    symbol="BTC/USDT:USDT",
    min_quantity=D("0.001"),
    max_quantity=D(120),
    quantity_step=D("0.001"),
    tick_size=D("0.1"),
    currency="USDT",
)
SA40 = Instrument(symbol="SA40")


@pytest.mark.parametrize(
    ("value", "step", "down"),
    [
        (D("0.0129"), D("0.001"), D("0.012")),
        (D("0.012"), D("0.001"), D("0.012")),
        (D("7"), D(1), D(7)),
        (D("7.9"), D(1), D(7)),
        (D(35), D(10), D(30)),
        (D("0.0004"), D("0.001"), D(0)),
    ],
)
def test_round_down_to_the_step(value: D, step: D, down: D) -> None:
    got = quantities.round_down(value, step)
    assert got == down
    assert str(got) == str(quantities.plain(down))  # never 0.012000 or 1E+1


def test_round_up_and_plain() -> None:
    assert quantities.round_up(D("0.0011"), D("0.001")) == D("0.002")
    assert quantities.round_up(D(25), D(10)) == D(30)
    assert [str(quantities.plain(v)) for v in (D("1.000"), D("0.0100"), D("1E+1"))] == ["1", "0.01", "10"]


def test_whole_contracts_refuse_a_fraction_naming_the_symbol_and_account() -> None:
    assert quantities.whole_contracts_refusal(D(2), "SA40", "Herenya") is None
    assert (
        quantities.whole_contracts_refusal(D("0.5"), "BTCUSD", "Herenya")
        == "BTCUSD trades whole contracts on Herenya: 0.5 is not a whole number"
    )
    assert quantities.step_refusal(D("0.0125"), D("0.001"), "BTC/USDT:USDT", "binance") == (
        "BTC/USDT:USDT trades in steps of 0.001 on binance: 0.0125 is not a multiple of it"
    )
    assert quantities.step_refusal(D("0.012"), D("0.001"), "BTC/USDT:USDT", "binance") is None
    assert SA40.whole_contracts and not BTC.whole_contracts


def test_bounds() -> None:
    assert quantities.within_bounds(D("0.00000001")) and quantities.within_bounds(D(1_000_000))
    assert not quantities.within_bounds(D("0.000000001"))
    assert not quantities.within_bounds(D(1_000_001))
    assert not quantities.within_bounds(D("NaN"))


def test_shown_and_sent_as_plain_numbers() -> None:
    assert [display.quantity(v) for v in (D("0.01"), D(1), D("1.00000000"), D(1200), None)] == [
        "0.01",
        "1",
        "1",
        "1,200",
        display.NONE,
    ]
    assert [display.signed_quantity(v) for v in (D("0.01"), D(-3), D(0))] == ["+0.01", "-3", "+0"]
    assert json.dumps([quantities.json_number(D("0.010")), quantities.json_number(D("1.000"))]) == "[0.01, 1]"
    # Every bounded quantity survives a JSON number digit for digit.
    for value in (D("999999.99999999"), D("0.00000001"), D("123456.7891")):
        assert D(json.dumps(quantities.json_number(value))) == value


def _signal(quantity: D | None = None, action: SignalAction = SignalAction.ENTER_LONG, **kw: D) -> Signal:
    return Signal(action=action, price=D(65000), shape=AlertShape.RSI, time=T0, quantity=quantity, **kw)


def _bot(size: D, account: str = "binance") -> BotConfig:
    return config(
        base_position_size=size, broker_account=account, symbol="SA40" if account != "binance" else BTC.symbol
    )


def test_a_fractional_bot_opens_adds_and_reduces_exactly_on_an_exchange_market() -> None:
    flat = Position.flat("BTC/USDT:USDT")
    opened = plan(_bot(D("0.01")), flat, _signal(), BTC)
    assert [leg.quantity for leg in opened.legs] == [D("0.01")]
    held = Position.from_entries(
        "BTC/USDT:USDT", PositionSide.LONG, [Entry("f1", D("0.01"), D(65000), T0)], average_price=D(65000)
    )
    added = plan(_bot(D("0.01")), held, _signal(D("0.005")), BTC)
    assert [leg.quantity for leg in added.legs] == [D("0.005")]
    # Off the step: rounded down, said.
    rounded = plan(_bot(D("0.01")), flat, _signal(D("0.0125")), BTC)
    assert [leg.quantity for leg in rounded.legs] == [D("0.012")]
    assert any("rounded down from 0.0125 to 0.012" in n for n in rounded.notes)
    reduced = plan(_bot(D("0.01")), held, _signal(D("0.004"), SignalAction.REDUCE), BTC)
    assert [leg.quantity for leg in reduced.legs] == [D("0.004")]
    half = plan(_bot(D("0.01")), held, _signal(None, SignalAction.REDUCE, reduce_pct=D(50)), BTC)
    assert [leg.quantity for leg in half.legs] == [D("0.005")]


def test_a_fraction_on_a_whole_contract_account_is_refused_with_the_reason_never_rounded() -> None:
    flat = Position.flat("SA40")
    got = plan(_bot(D(1), "Herenya"), flat, _signal(D("0.5")), SA40)
    assert got.refused and not got.legs
    assert got.ignored == "SA40 trades whole contracts on Herenya: 0.5 is not a whole number"
    edited = plan(_bot(D(1), "Paper"), flat, _signal(), SA40, SignalEdits(quantity=D("1.5")))
    assert edited.refused and edited.ignored == "SA40 trades whole contracts on Paper: 1.5 is not a whole number"
    held = Position.from_entries("SA40", PositionSide.LONG, [Entry("f1", D(3), D(100), T0)], average_price=D(100))
    reduce = plan(_bot(D(1), "Herenya"), held, _signal(D("1.5"), SignalAction.REDUCE), SA40)
    assert reduce.refused and "1.5 is not a whole number" in (reduce.ignored or "")


def test_the_api_answers_quantities_as_json_numbers_whole_ones_without_a_point() -> None:
    from pydantic import BaseModel

    from web.schemas.answers import Quantity

    class Answer(BaseModel):
        quantity: Quantity
        filled_quantity: Quantity | None = None

    assert Answer(quantity=D(1), filled_quantity=D("0.0100")).model_dump_json() == (
        '{"quantity":1,"filled_quantity":0.01}'
    )
    assert Answer(quantity=D("2.000")).model_dump(mode="json") == {"quantity": 2, "filled_quantity": None}
