"""What the stop monitor watches, kept in memory between its passes.

Loaded from the database at the first pass, then read again only after a change: the
services that change a position or an exit watch (execution, /close, /pause, /resume,
repair) mark it stale after their commit. A pass with nothing to watch reads nothing. A
reload every `refresh_seconds` is the safety net for a change made outside this process
(`signaldesk` commands on the same database file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trading.domain.exits import ExitWatch
from trading.domain.flatten import monitored
from trading.domain.position import Position
from trading.domain.records import Bot

Key = tuple[int, str, str]  # (bot id, account, symbol)


@dataclass
class Watchlist:
    refresh_seconds: float = 60.0
    bots: dict[int, Bot] = field(default_factory=dict)
    positions: list[tuple[int, Position]] = field(default_factory=list)  # open ones
    watches: dict[Key, ExitWatch] = field(default_factory=dict)
    loaded_at: datetime | None = None  # None: read at the next pass
    loads: int = 0

    def changed(self) -> None:
        """A position, an exit watch or a bot changed (committed): read them at the next pass."""
        self.loaded_at = None

    def stale(self, now: datetime) -> bool:
        return self.loaded_at is None or now - self.loaded_at >= timedelta(seconds=self.refresh_seconds)

    def load(
        self, now: datetime, bots: list[Bot], positions: list[tuple[int, Position]], watches: list[ExitWatch]
    ) -> None:
        self.bots = {b.id: b for b in bots}
        self.positions = positions
        self.watches = {(w.bot_id, w.account, w.symbol): w for w in watches}
        self.loaded_at = now
        self.loads += 1

    @property
    def idle(self) -> bool:
        """Nothing to watch: no open position with a stop or target (or of a bot whose rules
        close it: `flatten.monitored`), no exit under way."""
        return not self.watches and not any(
            p.stop_loss is not None or p.take_profit is not None or (b is not None and monitored(b.config))
            for b, p in ((self.bots.get(bot_id), p) for bot_id, p in self.positions)
        )
