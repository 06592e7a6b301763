"""A signal's moves, checked against the transition table (trading/domain/signals.py)
before the repository stores them: the rule lives here, the repositories only store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from trading.domain.records import StateChange
from trading.domain.signals import SignalState, check_signal_path, check_signal_transition, signal_sources
from trading.services.ports import UnitOfWork


async def set_signal_state(
    uow: UnitOfWork, signal_id: int, state: SignalState, *, cause: str, at: datetime, reason: str | None = None
) -> None:
    """Move to `state` from whatever state the table allows it from, recording the change;
    IllegalSignalTransition from any other (NotFound: no such signal)."""
    current = await uow.signals.set_state(
        signal_id, state, sources=signal_sources(state), cause=cause, at=at, reason=reason
    )
    if current is not None:
        check_signal_transition(current, state)
        raise AssertionError(f"signal {signal_id}: {current.value} -> {state.value} allowed but not applied")


async def move_signal(
    uow: UnitOfWork, signal_id: int, steps: Sequence[StateChange], *, from_state: SignalState
) -> bool:
    """Move from `from_state` through `steps` (each allowed by the table, else
    IllegalSignalTransition); False, nothing written, when the signal has left `from_state`."""
    check_signal_path(from_state, [step.state for step in steps])
    return await uow.signals.move(signal_id, steps, from_state=from_state)
