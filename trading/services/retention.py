"""Keeping the webhook log bounded: rows older than the retention, and rows past the
newest `max_rows`, are deleted in the background, in small batches (each its own short
transaction, so the intake never waits long behind it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from trading.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("signaldesk.retention")

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Retention:
    days: float  # 0: no age limit
    max_rows: int  # 0: no row limit


class WebhookLogTrimmer:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, retention: Retention) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._retention = retention

    async def __call__(self) -> int:
        """Trim the log now; the number of rows deleted."""
        total = 0
        if self._retention.days > 0:
            cutoff = self._clock.now() - timedelta(days=self._retention.days)
            total += await self._batches(lambda uow: uow.webhook_logs.delete_older_than(cutoff, limit=BATCH))
        if self._retention.max_rows > 0:
            keep = self._retention.max_rows
            total += await self._batches(lambda uow: uow.webhook_logs.delete_beyond(keep, limit=BATCH))
        if total:
            log.info("webhook log trimmed: %d row(s) deleted", total)
        return total

    async def _batches(self, step: Callable[[UnitOfWork], Awaitable[int]]) -> int:
        total = 0
        while True:
            async with self._uow() as uow:
                deleted = await step(uow)
                await uow.commit()
            total += deleted
            if deleted < BATCH:
                return total
