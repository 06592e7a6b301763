"""The web desk's sign-in limits, held for the whole desk: every attempt is a row of the
database (`sign_in_attempts`), so a guesser spreading attempts over several processes
gets no more guesses than from one. The rules are web/login_limits.py's (docs/web.md,
"Sign-in limits"): within a window, at most `max_failures` failed attempts per client
address, and per name (past which the name stays open only to an address that has not
failed for it in the window, or one it signed in from before).

An attempt is stored, as failed, and committed before the limits are checked; the check
then counts every other attempt committed by then, in any process. Of attempts made at
once, the last to commit sees all the others, so together they never get more than the
limits allow (at worst one is refused that would have fitted). A refused attempt is taken
back off the count; one that signs in is marked so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self


@dataclass(frozen=True, slots=True)
class RecentFailure:
    name: str
    address: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """An attempt under way, counted as failed until `SignInLimits.succeeded`."""

    id: int
    name: str
    address: str


class SignInRepository(Protocol):
    async def add_failed(self, name: str, address: str, at: datetime) -> int: ...
    async def failures_since(self, name: str, address: str, since: datetime, but: int) -> Sequence[RecentFailure]: ...
    async def signed_in_before(self, name: str, address: str) -> bool: ...
    async def remove(self, attempt_id: int) -> None: ...
    async def mark_signed_in(self, attempt_id: int, name: str, address: str) -> None: ...
    async def trim(self, before: datetime) -> None: ...


class SignInUnitOfWork(Protocol):
    @property
    def sign_ins(self) -> SignInRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...


class SignInUnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> SignInUnitOfWork: ...


class SignInLimits:
    def __init__(
        self, uow: SignInUnitOfWorkFactory, now: Callable[[], datetime], max_failures: int, window: float
    ) -> None:
        self._uow = uow
        self._now = now
        self.max_failures = max_failures
        self.window = timedelta(seconds=window)

    async def begin(self, name: str, address: str) -> SignInAttempt | float:
        """The attempt, counted now; or the seconds to wait when the limits refuse it."""
        name = name.strip().lower()[:64]
        address = address[:64]
        now = self._now()
        async with self._uow() as uow:
            attempt_id = await uow.sign_ins.add_failed(name, address, now)
            await uow.sign_ins.trim(now - self.window)
            await uow.commit()
        attempt = SignInAttempt(attempt_id, name, address)
        if self.max_failures <= 0:
            return attempt
        async with self._uow(read_only=True) as uow:
            others = await uow.sign_ins.failures_since(name, address, now - self.window, attempt_id)
            by_address = [f.at for f in others if f.address == address]
            by_name = [f.at for f in others if f.name == name]
            by_pair = [f.at for f in others if f.name == name and f.address == address]
            waits = []
            if len(by_address) >= self.max_failures:
                waits.append(self._wait(min(by_address), now))
            if len(by_name) >= self.max_failures and by_pair and not await uow.sign_ins.signed_in_before(name, address):
                # Until the name unlocks, or this address's own failures for it are out of the window.
                waits.append(self._wait(min(min(by_name), max(by_pair)), now))
        if not waits:
            return attempt
        async with self._uow() as uow:  # refused: no attempt, so no failure
            await uow.sign_ins.remove(attempt_id)
            await uow.commit()
        return max(max(waits), 0.001)

    def _wait(self, oldest: datetime, now: datetime) -> float:
        return (oldest + self.window - now).total_seconds()

    async def succeeded(self, attempt: SignInAttempt) -> None:
        """The attempt signed in: it is no failure, and its address is one this name uses."""
        async with self._uow() as uow:
            await uow.sign_ins.mark_signed_in(attempt.id, attempt.name, attempt.address)
            await uow.commit()
