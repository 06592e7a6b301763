"""Alerts before executions, on the one core: a bot's lane starts its next signal only once
the intake has gone quiet, or after a bounded wait.

Every webhook must be answered within TradingView's 3 seconds, while an execution can start
a few milliseconds later without harm; both share one event loop. Without an order between
them, a candle-close burst splits the core between storing alerts and executing those
already stored, and every answer waits behind executions. So the intake marks each alert
it holds (`holding`), and a lane asks for its turn (`turn`) before it takes a signal: the
turn comes once no alert has been held for `settle` seconds, or after `at_most` seconds
whatever the intake is doing, so executions are delayed under load, never starved. A signal
already under way is never paused (its broker call and its writes go on): only the start of
the next one waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class AlertsFirst:
    def __init__(self, *, settle: float = 0.002, at_most: float = 0.25) -> None:
        """`settle`: how long the intake must hold no alert before it counts as quiet (the
        gap between two alerts of a burst is shorter). `at_most`: the longest a lane waits."""
        if settle < 0 or at_most < 0:
            raise ValueError("settle and at_most are durations in seconds, 0 or more")
        self._settle = settle
        self._at_most = at_most
        self._held = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._pending: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Around the intake's work on one alert, from its body to its answer."""
        self._held += 1
        self._quiet.clear()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        try:
            yield
        finally:
            self._held -= 1
            if self._held == 0:
                self._pending = asyncio.get_running_loop().call_later(self._settle, self._settled)

    def _settled(self) -> None:
        self._pending = None
        if self._held == 0:
            self._quiet.set()

    @property
    def quiet(self) -> bool:
        return self._quiet.is_set()

    async def turn(self) -> None:
        """Return once the intake is quiet, or after `at_most` seconds."""
        if self._quiet.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._at_most):
                await self._quiet.wait()
