"""A clock for tests: it says what it is told (trading/services/ports.Clock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by
