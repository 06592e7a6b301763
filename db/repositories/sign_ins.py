"""sign_in_attempts: the web desk's sign-in attempts, for limits every process shares
(trading/services/sign_in_limits.py)."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update

from db.models import SignInAttemptRow, table_of
from db.repositories.base import Repository
from trading.services.sign_in_limits import RecentFailure

ATTEMPTS = table_of(SignInAttemptRow)


class SqlSignInRepository(Repository):
    async def add_failed(self, name: str, address: str, at: datetime) -> int:
        """A new attempt, counted as failed until `mark_signed_in`; its id."""
        stmt = insert(ATTEMPTS).values(name=name, address=address, at=at, signed_in=False).returning(ATTEMPTS.c.id)
        found: int = (await self._uow.execute(stmt)).scalar_one()
        return found

    async def failures_since(self, name: str, address: str, since: datetime, but: int) -> builtins.list[RecentFailure]:
        """The failed attempts since `since` for this name or from this address, other than `but`."""
        c = ATTEMPTS.c
        stmt = (
            select(c.name, c.address, c.at)
            .where(~c.signed_in, c.at > since, c.id != but, or_(c.name == name, c.address == address))
            .order_by(c.at)
        )
        return [RecentFailure(r.name, r.address, r.at) for r in await self._uow.execute(stmt)]

    async def signed_in_before(self, name: str, address: str) -> bool:
        c = ATTEMPTS.c
        stmt = select(c.id).where(c.signed_in, c.name == name, c.address == address).limit(1)
        return (await self._uow.execute(stmt)).first() is not None

    async def remove(self, attempt_id: int) -> None:
        await self._uow.execute(delete(ATTEMPTS).where(ATTEMPTS.c.id == attempt_id))

    async def mark_signed_in(self, attempt_id: int, name: str, address: str) -> None:
        """The attempt signed in: it is no failure; the pair's older sign-in rows go."""
        c = ATTEMPTS.c
        await self._uow.execute(delete(ATTEMPTS).where(c.signed_in, c.name == name, c.address == address))
        await self._uow.execute(update(ATTEMPTS).where(c.id == attempt_id).values(signed_in=True))

    async def trim(self, before: datetime) -> None:
        """Failed attempts past the window count no more."""
        await self._uow.execute(delete(ATTEMPTS).where(and_(~ATTEMPTS.c.signed_in, ATTEMPTS.c.at <= before)))
