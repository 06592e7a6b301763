"""In-memory limits of the webhook: token buckets (per webhook key, per client address, and
for refused attempts per key and per address) and a cap on the requests in flight per
client address."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    """`rate` tokens a second refill each bucket up to `burst`; a request takes one.

    Buckets live in a bounded LRU: a full bucket is the same as no bucket, so dropping the
    least recently used one is harmless, and random keys cannot grow memory without bound.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_buckets: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._max = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # name -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, name: str) -> float | None:
        """None when the request may go ahead, else the seconds until a token is there."""
        return self._check(name, take=True)

    def peek(self, name: str) -> float | None:
        """What `take` would answer, without taking: for requests charged after the fact."""
        return self._check(name, take=False)

    def _check(self, name: str, *, take: bool) -> float | None:
        if not self.enabled:
            return None
        now = self._clock()
        tokens, at = self._buckets.pop(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[name] = (tokens - 1.0 if take else tokens, now)
            wait = None
        else:
            self._buckets[name] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait


class InFlight:
    """At most `limit` requests in flight per name (a client address); 0 turns the cap off.

    A request over the cap is refused at once rather than queued: a sender holding many slow
    connections open gets nothing for them, and the others are not kept waiting.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def enter(self, name: str) -> bool:
        """Whether the request may go ahead; when it may, `leave` must follow."""
        if self.limit <= 0:
            return True
        count = self._counts.get(name, 0)
        if count >= self.limit:
            return False
        self._counts[name] = count + 1
        return True

    def leave(self, name: str) -> None:
        if self.limit <= 0:
            return
        count = self._counts.get(name, 0) - 1
        if count > 0:
            self._counts[name] = count
        else:
            self._counts.pop(name, None)
