"""How many sign-in attempts a client address and a name get (docs/web.md, "Sign-in limits").

An attempt is counted when it starts, before the password is checked, in one synchronous step
with the check of the limits (nothing else runs on the event loop in between): however many
requests arrive at once, no more of them reach the password check than the limits allow. An
attempt that signs in is taken back off the count.

The rules, within a sliding window of `window` seconds:

- an address: at most `max_failures` attempts that failed, whatever the names they tried
  (this slows guessing from one address);
- a name: at most `max_failures` failed attempts from all addresses together. Past that the
  name is locked, but not for everyone: an address that has not failed for this name in the
  window, or one this name signed in from before, may still try (and its own failures count
  as usual). So failures from elsewhere cannot keep a person off the desk, and each guesser's
  address gets one more guess at most once the name is locked.

Memory is bounded: the least recently used keys are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Attempt:
    """A sign-in attempt under way, already counted as a failure until `succeeded`."""

    keys: tuple[str, ...]
    at: float
    name: str
    address: str


class SignInLimits(Protocol):
    """What the sign-in form asks: the desk's (trading/services/sign_in_limits.py, in the
    database, shared by every process) or this process's own (`InProcessLimits`)."""

    async def begin(self, name: str, address: str) -> object:
        """The attempt, counted now; or the seconds (a float) to wait when refused."""
        ...

    async def succeeded(self, attempt: Any) -> None: ...


class InProcessLimits:
    """A LoginLimiter as SignInLimits: for an app built without the database's limits."""

    def __init__(self, limiter: LoginLimiter) -> None:
        self.limiter = limiter

    async def begin(self, name: str, address: str) -> Attempt | float:
        return self.limiter.begin(name, address)

    async def succeeded(self, attempt: Attempt) -> None:
        self.limiter.succeeded(attempt)


class LoginLimiter:
    def __init__(
        self,
        max_failures: int,
        window: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._signed_in_from: OrderedDict[tuple[str, str], None] = OrderedDict()

    def begin(self, name: str, address: str) -> Attempt | float:
        """The attempt, counted now; or the seconds to wait when the limits refuse it."""
        name = name.strip().lower()[:64]
        keys = (f"address:{address}", f"name:{name}", f"pair:{name}\n{address}")
        now = self._clock()
        if self.max_failures > 0:
            by_address, by_name, by_pair = (self._recent(key, now) for key in keys)
            waits = []
            if len(by_address) >= self.max_failures:
                waits.append(by_address[0] + self.window - now)
            if len(by_name) >= self.max_failures and not self._may_try_locked_name(name, address, by_pair):
                # Until the name unlocks, or this address's own failures for it are out of the window.
                waits.append(min(by_name[0], by_pair[-1]) + self.window - now)
            if waits:
                return max(max(waits), 0.001)
        for key in keys:
            self._count(key, now)
        return Attempt(keys, now, name, address)

    def succeeded(self, attempt: Attempt) -> None:
        """The attempt signed in: it is no failure, and its address is one this name uses."""
        for key in attempt.keys:
            times = self._failures.get(key)
            if times is not None and attempt.at in times:
                times.remove(attempt.at)
        pair = (attempt.name, attempt.address)
        self._signed_in_from[pair] = None
        self._signed_in_from.move_to_end(pair)
        while len(self._signed_in_from) > self._max_keys:
            self._signed_in_from.popitem(last=False)

    def _may_try_locked_name(self, name: str, address: str, by_pair: deque[float]) -> bool:
        return not by_pair or (name, address) in self._signed_in_from

    def _count(self, key: str, now: float) -> None:
        times = self._recent(key, now)
        times.append(now)
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
