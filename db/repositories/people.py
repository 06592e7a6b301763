"""users, api_tokens and web_sessions: the people of the web desk and how they sign in.

Only hashes are stored: argon2 for passwords, SHA-256 for the random API and session tokens."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from db.models import ApiTokenRow, UserRow, WebSessionRow, table_of
from db.repositories.base import Repository
from trading.domain.people import Credentials, Person, Role

USERS = table_of(UserRow)
TOKENS = table_of(ApiTokenRow)
SESSIONS = table_of(WebSessionRow)


def _person(r: Any, tokens: int = 0) -> Person:
    return Person(r.id, r.name, Role(r.role), bool(r.disabled), r.created_at, tokens)


class SqlPeopleRepository(Repository):
    async def add(self, name: str, role: Role, password_hash: str, at: datetime) -> Person | None:
        """The new person; None when the name is taken."""
        values = {
            "role": role.value,
            "password_hash": password_hash,
            "disabled": False,
            "created_at": at,
            "updated_at": at,
        }
        person_id = await self._insert_new(USERS, {"name": name}, values, USERS.c.id)
        if person_id is None:
            return None
        return Person(person_id, name, role, False, at)

    async def get(self, person_id: int) -> Person | None:
        row = (await self._uow.execute(select(USERS).where(USERS.c.id == person_id))).first()
        return _person(row) if row is not None else None

    async def get_by_name(self, name: str) -> Person | None:
        found = await self.credentials(name)
        return found.person if found is not None else None

    async def credentials(self, name: str) -> Credentials | None:
        row = (await self._uow.execute(select(USERS).where(USERS.c.name == name))).first()
        return Credentials(_person(row), row.password_hash) if row is not None else None

    async def list(self) -> builtins.list[Person]:
        counts = select(TOKENS.c.user_id, func.count().label("n")).group_by(TOKENS.c.user_id).subquery("token_counts")
        stmt = (
            select(USERS, func.coalesce(counts.c.n, 0).label("tokens"))
            .outerjoin(counts, counts.c.user_id == USERS.c.id)
            .order_by(USERS.c.name)
        )
        return [_person(r, int(r.tokens)) for r in await self._uow.execute(stmt)]

    async def set_role(self, person_id: int, role: Role, at: datetime) -> None:
        await self._uow.execute(update(USERS).where(USERS.c.id == person_id).values(role=role.value, updated_at=at))

    async def set_disabled(self, person_id: int, disabled: bool, at: datetime) -> None:
        await self._uow.execute(update(USERS).where(USERS.c.id == person_id).values(disabled=disabled, updated_at=at))

    async def set_password(self, person_id: int, password_hash: str, at: datetime) -> None:
        await self._uow.execute(
            update(USERS).where(USERS.c.id == person_id).values(password_hash=password_hash, updated_at=at)
        )

    # ---- API tokens

    async def add_token(self, person_id: int, token_hash: str, at: datetime) -> None:
        await self._uow.execute(insert(TOKENS), {"user_id": person_id, "token_hash": token_hash, "created_at": at})

    async def by_token(self, token_hash: str) -> Person | None:
        """The holder of the API token with this hash (disabled or not: the caller decides)."""
        stmt = select(USERS).join(TOKENS, TOKENS.c.user_id == USERS.c.id).where(TOKENS.c.token_hash == token_hash)
        row = (await self._uow.execute(stmt)).first()
        return _person(row) if row is not None else None

    async def revoke_tokens(self, person_id: int) -> int:
        """Delete every API token of the person; how many there were."""
        result = await self._uow.execute(delete(TOKENS).where(TOKENS.c.user_id == person_id))
        return int(result.rowcount or 0)

    # ---- web sessions

    async def add_session(self, person_id: int, token_hash: str, at: datetime, expires_at: datetime) -> None:
        await self._uow.execute(
            insert(SESSIONS),
            {"user_id": person_id, "token_hash": token_hash, "created_at": at, "expires_at": expires_at},
        )

    async def by_session(self, token_hash: str, now: datetime) -> Person | None:
        """The person signed in by the session with this hash, unless it expired."""
        stmt = (
            select(USERS)
            .join(SESSIONS, SESSIONS.c.user_id == USERS.c.id)
            .where(SESSIONS.c.token_hash == token_hash, SESSIONS.c.expires_at > now)
        )
        row = (await self._uow.execute(stmt)).first()
        return _person(row) if row is not None else None

    async def end_session(self, token_hash: str) -> None:
        await self._uow.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == token_hash))

    async def end_sessions(self, person_id: int) -> None:
        await self._uow.execute(delete(SESSIONS).where(SESSIONS.c.user_id == person_id))

    async def purge_sessions(self, now: datetime) -> None:
        await self._uow.execute(delete(SESSIONS).where(SESSIONS.c.expires_at <= now))
