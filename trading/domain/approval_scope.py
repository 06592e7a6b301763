"""What waits for a person in approve mode: `approve = "all"` (every signal, as before) or
`approve = "entries"` (only what adds risk; closes, reductions, take-profits, breakevens
and stop moves run at once). A reversal in approve-entries mode is split: the open
position is closed at once and only the new entry waits on a card, which says so."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from trading.domain.signals import SignalAction
from trading.domain.values import Mode, PositionSide


class Approve(StrEnum):
    ENTRIES = "entries"
    ALL = "all"


class Route(StrEnum):
    AT_ONCE = "at_once"  # executed now, no card
    CARD = "card"  # waits for an approver
    SPLIT = "split"  # a reversal: the open position closes now, the new entry waits on a card


def route(mode: Mode, approve: Approve, action: SignalAction, held: PositionSide | None, reverses: bool) -> Route:
    """Where a received signal goes. `held`: the side of the bot's open position (None when
    flat); `reverses`: the bot closes on an opposite entry (`exit_on_opposite_signal`)."""
    if runs_unapproved(mode, approve, action):
        return Route.AT_ONCE
    side = action.entry_side
    if approve is Approve.ENTRIES and side is not None and held is not None and held is not side and reverses:
        return Route.SPLIT
    return Route.CARD


def runs_unapproved(mode: Mode, approve: Approve, action: SignalAction) -> bool:
    """Whether a received signal with `action` may execute without an approval."""
    return mode is Mode.AUTO or (approve is Approve.ENTRIES and not action.is_entry)


def why_unapproved(mode: Mode) -> str:
    """What queued a signal that `runs_unapproved` (the cause in its history)."""
    return "auto mode" if mode is Mode.AUTO else "approve entries"


def needs_position(mode: Mode, approve: Approve, action: SignalAction) -> bool:
    """Whether `route` depends on the position (only an entry in approve-entries mode)."""
    return mode is Mode.APPROVE and approve is Approve.ENTRIES and action.is_entry


# The pending card's reason after a split. It names the close's signal, which an approval
# waits for (`split_close_id` reads it back: the two live here together).
_SPLIT = "approve entries: the {side} {quantity} is closed at once (signal #{close_id}); only the new entry waits"
_SPLIT_ID = re.compile(r"^approve entries: the \w+ \d+ is closed at once \(signal #(\d+)\)")


def split_reason(side: PositionSide, quantity: Decimal, close_id: int) -> str:
    return _SPLIT.format(side=side.value, quantity=quantity, close_id=close_id)


def split_close_id(reason: str | None) -> int | None:
    """The close signal of a split reversal, from its entry's pending reason; None otherwise."""
    found = _SPLIT_ID.match(reason or "")
    return int(found.group(1)) if found else None


def split_close_message(entry_id: int) -> str:
    """The close signal's own reason (its message), naming the entry that waits."""
    return f"closed at once: signal #{entry_id} reverses the position and its new entry waits for approval"
