"""Where a received signal goes by `mode` and `approve`: hand-listed, every action."""

from __future__ import annotations

import pytest

from trading.domain.approval_scope import Approve, Route, route, split_close_id, split_reason
from trading.domain.config import BotConfig, BotConfigError
from trading.domain.signals import SignalAction
from trading.domain.values import Mode, PositionSide

A = SignalAction
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
EXITS = (A.CLOSE, A.CLOSE_LONG, A.CLOSE_SHORT, A.REDUCE, A.BREAKEVEN)


@pytest.mark.parametrize("action", list(SignalAction))
def test_auto_runs_everything_and_approve_all_carries_everything(action: SignalAction) -> None:
    for held in (None, LONG, SHORT):
        assert route(Mode.AUTO, Approve.ENTRIES, action, held, True) is Route.AT_ONCE
        assert route(Mode.APPROVE, Approve.ALL, action, held, True) is Route.CARD


@pytest.mark.parametrize("action", EXITS)
def test_approve_entries_runs_every_exit_at_once(action: SignalAction) -> None:
    for held in (None, LONG, SHORT):
        assert route(Mode.APPROVE, Approve.ENTRIES, action, held, True) is Route.AT_ONCE


def test_approve_entries_puts_entries_on_a_card_and_splits_a_reversal() -> None:
    assert route(Mode.APPROVE, Approve.ENTRIES, A.ENTER_LONG, None, True) is Route.CARD
    assert route(Mode.APPROVE, Approve.ENTRIES, A.ENTER_LONG, LONG, True) is Route.CARD  # an add
    assert route(Mode.APPROVE, Approve.ENTRIES, A.ENTER_LONG, SHORT, True) is Route.SPLIT
    assert route(Mode.APPROVE, Approve.ENTRIES, A.ENTER_SHORT, LONG, True) is Route.SPLIT
    # A bot that does not reverse ignores the opposite entry: it waits whole, as it is.
    assert route(Mode.APPROVE, Approve.ENTRIES, A.ENTER_SHORT, LONG, False) is Route.CARD


def test_the_split_reason_names_its_close_and_reads_back() -> None:
    reason = split_reason(SHORT, 3, 41)
    assert reason == "approve entries: the short 3 is closed at once (signal #41); only the new entry waits"
    assert split_close_id(reason) == 41
    assert split_close_id(None) is None and split_close_id("approve mode") is None


def test_approve_defaults_to_all_and_refuses_other_words() -> None:
    base = {"bot_name": "B", "symbol": "SA40", "webhook_key": "k" * 16}
    assert BotConfig.parse(base).approve is Approve.ALL
    assert BotConfig.parse({**base, "approve": "Entries"}).approve is Approve.ENTRIES
    with pytest.raises(BotConfigError) as raised:
        BotConfig.parse({**base, "approve": "exits"})
    assert raised.value.errors == ["approve: must be 'entries' or 'all', not 'exits'"]
