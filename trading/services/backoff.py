"""How long to wait before trying again: one rule for every retry loop."""

from __future__ import annotations


def backoff_delay(attempt: int, *, first: float = 1.0, cap: float = 60.0) -> float:
    """The wait before try number `attempt + 1`, after `attempt` failures (1, 2, ...):
    doubling from `first`, never more than `cap`."""
    if attempt < 1:
        return 0.0
    return min(first * 2.0 ** min(attempt - 1, 30), cap)
