"""Invariants of the engine and the position over random sequences of signals and fills.

Each example draws a bot, an instrument and a run of signals; every signal is planned by the
engine and every planned leg is executed as one fill at a random price, the way the service
would apply broker fills. After each step the position is checked against a naive replay.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.domain.config import BotConfig
from trading.domain.engine import plan
from trading.domain.market import Instrument
from trading.domain.plan import LegKind
from trading.domain.position import DuplicateFill, Fill, Position
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import ZERO

T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
TOLERANCE = Decimal("1e-9")
HALF = Decimal("0.5")

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Step:
    action: SignalAction
    quantity: int | None
    reduce_pct: Decimal | None
    signal_price: Decimal
    fill_prices: tuple[Decimal, ...]  # one per leg the plan may hold; extra ones unused


prices = st.integers(min_value=2, max_value=200_000).map(lambda ticks: ticks * HALF)

steps = st.builds(
    Step,
    action=st.sampled_from(list(SignalAction)),
    quantity=st.one_of(st.none(), st.integers(min_value=1, max_value=20)),
    reduce_pct=st.one_of(st.none(), st.integers(min_value=1, max_value=100).map(Decimal)),
    signal_price=prices,
    fill_prices=st.tuples(prices, prices, prices, prices),
)


@st.composite
def bots(draw: st.DrawFn) -> tuple[BotConfig, Instrument]:
    step = draw(st.sampled_from([1, 1, 2]))
    max_quantity = draw(st.integers(min_value=2, max_value=15)) * step
    instrument = Instrument(
        "SA40",
        min_quantity=step,
        max_quantity=max_quantity,
        quantity_step=step,
        contract_multiplier=draw(st.sampled_from([Decimal(1), Decimal("2.5"), Decimal(10)])),
    )
    fields: dict[str, Any] = {
        "bot_name": "SA40_RSI_Bot",
        "symbol": "SA40",
        "webhook_key": "sa40_rsi_50849a3c",
        "base_position_size": draw(st.integers(min_value=1, max_value=6)),
        "max_positions": draw(st.integers(min_value=1, max_value=5)),
        "allow_pyramiding": draw(st.booleans()),
        "exit_on_opposite_signal": draw(st.booleans()),
    }
    return BotConfig.model_validate(fields), instrument


@dataclass
class Run:
    config: BotConfig
    instrument: Instrument
    position: Position
    fills: list[Fill]
    last_price: Decimal


def run(config: BotConfig, instrument: Instrument, sequence: list[Step], check: Any = None) -> Run:
    """Plan and fill every step; `check(run, plan, fills_of_step)` is called after each one."""
    pos = Position.flat(instrument.symbol, multiplier=instrument.contract_multiplier)
    state = Run(config, instrument, pos, [], Decimal(100))
    for n, step in enumerate(sequence):
        sig = Signal(
            action=step.action,
            price=step.signal_price,
            shape=AlertShape.RSI,
            quantity=step.quantity,
            reduce_pct=step.reduce_pct,
        )
        p = plan(config, pos, sig, instrument)
        step_fills = []
        for i, leg in enumerate(p.legs):
            price = step.fill_prices[i % len(step.fill_prices)]
            f = Fill(f"fill-{n}-{i}", leg.side, leg.quantity, price, T0 + timedelta(minutes=n))
            pos.apply_fill(f)
            step_fills.append(f)
            state.last_price = price
        state.fills.extend(step_fills)
        if check is not None:
            check(state, p, step_fills)
    return state


def naive_total_pnl(fills: list[Fill], position_signed_qty: int, mark: Decimal, multiplier: Decimal) -> Decimal:
    """Cash paid and received over every fill, plus what the remaining contracts are worth at `mark`."""
    cash = sum((-f.side.sign * f.quantity * f.price * multiplier for f in fills), ZERO)
    return cash + position_signed_qty * mark * multiplier


@PROPERTY_SETTINGS
@given(bot=bots(), sequence=st.lists(steps, max_size=25))
def test_quantity_equals_the_sum_of_signed_fills(bot: tuple[BotConfig, Instrument], sequence: list[Step]) -> None:
    def check(state: Run, _p: Any, _f: Any) -> None:
        assert state.position.signed_quantity == sum(f.side.sign * f.quantity for f in state.fills)
        assert all(e.quantity > 0 for e in state.position.entries)

    run(*bot, sequence, check)


@PROPERTY_SETTINGS
@given(bot=bots(), sequence=st.lists(steps, max_size=25))
def test_never_more_than_max_positions_entries_nor_the_instrument_maximum(
    bot: tuple[BotConfig, Instrument], sequence: list[Step]
) -> None:
    config, instrument = bot

    def check(state: Run, p: Any, _f: Any) -> None:
        pos = state.position
        assert len(pos.entries) <= config.max_positions
        if not config.allow_pyramiding:
            assert len(pos.entries) <= 1
        assert pos.quantity <= instrument.max_quantity
        for leg in p.legs:
            assert instrument.min_quantity <= leg.quantity <= instrument.max_quantity
            assert leg.quantity % instrument.quantity_step == 0

    run(config, instrument, sequence, check)


@PROPERTY_SETTINGS
@given(bot=bots(), sequence=st.lists(steps, max_size=25), mark=prices)
def test_realized_plus_unrealized_equals_a_naive_replay_of_the_fills(
    bot: tuple[BotConfig, Instrument], sequence: list[Step], mark: Decimal
) -> None:
    config, instrument = bot
    multiplier = instrument.contract_multiplier

    def check(state: Run, _p: Any, _f: Any) -> None:
        pos = state.position
        for price in (state.last_price, mark):
            ours = pos.realized_pnl + pos.unrealized_pnl(price)
            naive = naive_total_pnl(state.fills, pos.signed_quantity, price, multiplier)
            assert abs(ours - naive) <= TOLERANCE, (ours, naive)

    run(config, instrument, sequence, check)


@PROPERTY_SETTINGS
@given(bot=bots(), sequence=st.lists(steps, max_size=25))
def test_a_reversal_leaves_only_the_new_sides_entry(bot: tuple[BotConfig, Instrument], sequence: list[Step]) -> None:
    def check(state: Run, p: Any, step_fills: list[Fill]) -> None:
        if p.summary != "reverse":
            return
        opening = p.legs[-1]
        assert opening.kind is LegKind.OPEN
        assert all(leg.kind is LegKind.CLOSE for leg in p.legs[:-1])
        pos = state.position
        assert pos.side is opening.position_side
        assert [e.fill_id for e in pos.entries] == [step_fills[-1].fill_id]
        assert pos.quantity == opening.quantity

    run(*bot, sequence, check)


@PROPERTY_SETTINGS
@given(bot=bots(), sequence=st.lists(steps, min_size=1, max_size=25))
def test_applying_the_same_fills_again_changes_nothing(bot: tuple[BotConfig, Instrument], sequence: list[Step]) -> None:
    state = run(*bot, sequence)
    before = copy.deepcopy(state.position)
    for f in state.fills:
        with pytest.raises(DuplicateFill):
            state.position.apply_fill(f)
    assert state.position == before


def test_a_known_sequence_exercises_every_kind_of_leg() -> None:
    # Guards the strategies above: if the generators stopped reaching reversals, adds or
    # reduces, the properties would hold vacuously. This fixed run must reach all of them.
    config = BotConfig.model_validate(
        {
            "bot_name": "SA40_RSI_Bot",
            "symbol": "SA40",
            "webhook_key": "sa40_rsi_50849a3c",
            "max_positions": 3,
            "allow_pyramiding": True,
            "exit_on_opposite_signal": True,
        }
    )
    instrument = Instrument("SA40", contract_multiplier=Decimal("2.5"))
    p = (Decimal(100), Decimal(110), Decimal(90), Decimal(105))
    sequence = [
        Step(SignalAction.ENTER_LONG, 2, None, Decimal(100), p),
        Step(SignalAction.ENTER_LONG, 3, None, Decimal(110), p[1:] + p[:1]),
        Step(SignalAction.REDUCE, None, Decimal(50), Decimal(120), p[2:] + p[:2]),
        Step(SignalAction.ENTER_SHORT, 4, None, Decimal(95), p),
        Step(SignalAction.CLOSE, None, None, Decimal(99), p[3:] + p[:3]),
    ]
    kinds: list[str] = []

    def check(state: Run, plan_: Any, _f: Any) -> None:
        kinds.append(plan_.summary)

    state = run(config, instrument, sequence, check)
    assert kinds == ["open", "add 2 of 3", "reduce 2", "reverse", "close"]
    assert state.position.is_flat
    # long 2@100 + 3@110 (avg 106), sell 2@90: -32; close 3@100: -18; short 4@110, buy 4@105: +20; x 2.5
    assert state.position.realized_pnl == Decimal("-75")
