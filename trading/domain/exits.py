"""Watching an exit through: a stop or target close that fails is tried again until the
position is flat or a person steps in, and the desk is told; quotes that cannot be read
for a position with a stop are reported once, and again when they are back.

Pure rules over an ExitWatch, the per-position record the monitor stores between passes
(so a restart, or another process taking over the monitor, carries on where it was).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

# The error channel hears of a failing exit after the first failure and then every this many.
REPORT_EVERY = 3
# A position with a stop whose quote cannot be read this many monitor passes in a row is reported.
QUOTE_MISSES_REPORTED = 3


@dataclass(frozen=True, slots=True)
class ExitWatch:
    """The monitor's record of one position (bot, account and symbol, opened at `opened_at`)."""

    bot_id: int
    symbol: str
    opened_at: datetime | None
    attempts: int = 0  # exit signals made for this position
    failures: int = 0  # of those, the ones that ended without the position flat
    signal_id: int | None = None  # the exit signal in flight
    next_attempt_at: datetime | None = None  # when to try again after a failure
    stopped: str | None = None  # why no more tries are made (a person stepped in)
    trigger: str | None = None  # what started the exit ("stop loss 52800 hit at 52790")
    quote_misses: int = 0  # monitor passes in a row without a quote
    quote_reported: bool = False  # the missing quote was reported and its return not yet
    account: str = ""  # the account the position is held on

    def for_position(self, opened_at: datetime | None) -> ExitWatch:
        """This watch, or a fresh one when the position is not the one it watched."""
        if opened_at == self.opened_at:
            return self
        return ExitWatch(self.bot_id, self.symbol, opened_at, account=self.account)

    @property
    def exiting(self) -> bool:
        """An exit was started and is being seen through."""
        return self.attempts > 0 and self.stopped is None

    def started(self, signal_id: int, trigger: str | None = None, attempt: int | None = None) -> ExitWatch:
        """Try number `attempt` (the next one by default) is signal `signal_id`."""
        return replace(
            self,
            attempts=attempt if attempt is not None else self.attempts + 1,
            signal_id=signal_id,
            next_attempt_at=None,
            trigger=trigger if trigger is not None else self.trigger,
        )

    def failed(self, retry_at: datetime) -> ExitWatch:
        return replace(self, failures=self.failures + 1, signal_id=None, next_attempt_at=retry_at)

    def due(self, now: datetime) -> bool:
        """Whether to try the exit again now."""
        return self.exiting and self.signal_id is None and (self.next_attempt_at is None or now >= self.next_attempt_at)

    def stop(self, why: str) -> ExitWatch:
        return replace(self, stopped=why, signal_id=None, next_attempt_at=None)

    def resumed(self) -> ExitWatch:
        """Tries start again at once (the count goes on)."""
        return replace(self, stopped=None, signal_id=None, next_attempt_at=None)

    def quote_missed(self) -> tuple[ExitWatch, bool]:
        """One more pass without a quote; True when that is the time to report it."""
        misses = self.quote_misses + 1
        report = misses >= QUOTE_MISSES_REPORTED and not self.quote_reported
        return replace(self, quote_misses=misses, quote_reported=self.quote_reported or report), report

    def quote_seen(self) -> tuple[ExitWatch, bool]:
        """A quote was read; True when its absence had been reported (say it is back)."""
        return replace(self, quote_misses=0, quote_reported=False), self.quote_reported


def report_failure(failures: int) -> bool:
    """Whether the error channel hears of failure number `failures` (1, then every REPORT_EVERY)."""
    return failures == 1 or (failures > 1 and (failures - 1) % REPORT_EVERY == 0)
