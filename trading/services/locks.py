"""One lock per bot, shared by every use case that must not interleave with a signal's try:
the runner's lane (a signal's try), reconciliation, repair and a resting order's cancel."""

from __future__ import annotations

import asyncio


class BotLocks:
    """Built once by the bootstrap and handed to each use case that takes a bot's lock."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    def of(self, bot_id: int) -> asyncio.Lock:
        """The bot's lock (one per bot, made on first use)."""
        return self._locks.setdefault(bot_id, asyncio.Lock())
