"""The wall clock: the one place that reads it. Everything else is handed a Clock
(trading/services/ports.py) when it is built, so a test can hand in a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
