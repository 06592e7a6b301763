"""People of the web desk: adding them, their roles, passwords, API tokens and sessions.

Passwords are kept as argon2id hashes; API and session tokens are random (256 bits) and kept
as their SHA-256 (a random token needs no slow hash: nothing can be guessed from it). A
token is shown once, when it is made. Every change is audited with its actor; so is every
login, failed or not (a failure names the person only when the name exists: a mistyped
name may be someone's password).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trading.domain.people import Person, Role, normalize_name, password_problem
from trading.domain.records import AuditEntry
from trading.services.actions import ActionResult, Actor
from trading.services.ports import Clock, PeopleUnitOfWork, PeopleUnitOfWorkFactory

log = logging.getLogger("signaldesk.people")

API_TOKEN_PREFIX = "sd_"  # recognisable in a secret scanner, and never a session token
SESSION_LIFETIME = timedelta(hours=12)


# What a management command does to the person, in the command's unit of work: its message.
_Change = Callable[[PeopleUnitOfWork, Person], Awaitable[str]]


def token_hash(token: str) -> str:
    """How API and session tokens are stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: `token` goes into the (signed) cookie, and only its hash into
    the database."""

    person: Person
    token: str


class People:
    """What the CLI (`signaldesk users ...`) and the web's login call."""

    def __init__(
        self,
        uow: PeopleUnitOfWorkFactory,
        clock: Clock,
        *,
        hasher: PasswordHasher | None = None,
        session_lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self.session_lifetime = session_lifetime
        self._dummy_hash: str | None = None

    # ---- management (admins; the CLI acts as the admin "cli")

    async def add(self, name: str, role: Role, password: str, actor: Actor) -> ActionResult:
        try:
            name = normalize_name(name)
        except ValueError as e:
            return ActionResult(False, str(e), "invalid")
        target = f"user:{name}"
        async with self._uow() as uow:
            if refused := await self._unless_admin(uow, actor, "user-add", target):
                return refused
        if problem := password_problem(password):
            return ActionResult(False, problem, "invalid")
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        now = self._clock.now()
        async with self._uow() as uow:
            person = await uow.people.add(name, role, hashed, now)
            if person is None:
                return ActionResult(False, f"there is already a person named {name!r}", "invalid")
            await uow.audit.add(AuditEntry(actor.id, "user-add", target, True, f"role {role.value}", now))
            await uow.commit()
        return ActionResult(True, f"added {name} as {role.value}")

    async def list(self) -> list[Person]:
        async with self._uow(read_only=True) as uow:
            return await uow.people.list()

    async def get(self, name: str) -> Person | None:
        try:
            name = normalize_name(name)
        except ValueError:
            return None
        async with self._uow(read_only=True) as uow:
            return await uow.people.get_by_name(name)

    async def set_role(self, name: str, role: Role, actor: Actor) -> ActionResult:
        async def change(uow: PeopleUnitOfWork, person: Person) -> str:
            await uow.people.set_role(person.id, role, self._clock.now())
            return f"{person.name} is now {role.value} (was {person.role.value})"

        return await self._change(name, "user-set-role", actor, change)

    async def disable(self, name: str, actor: Actor) -> ActionResult:
        async def change(uow: PeopleUnitOfWork, person: Person) -> str:
            await uow.people.set_disabled(person.id, True, self._clock.now())
            await uow.people.end_sessions(person.id)
            # For good: `enable` must not bring back a token that may have leaked with the reason
            # for disabling.
            revoked = await uow.people.revoke_tokens(person.id)
            return f"{person.name} is disabled: signed out everywhere; {revoked} API token(s) revoked"

        return await self._change(name, "user-disable", actor, change)

    async def enable(self, name: str, actor: Actor) -> ActionResult:
        async def change(uow: PeopleUnitOfWork, person: Person) -> str:
            await uow.people.set_disabled(person.id, False, self._clock.now())
            return f"{person.name} is enabled (with no API tokens: make a new one with `signaldesk users token`)"

        return await self._change(name, "user-enable", actor, change)

    async def set_password(self, name: str, password: str, actor: Actor, *, keep_tokens: bool = False) -> ActionResult:
        """A new password ends every session of the person and, unless `keep_tokens`, revokes
        their API tokens too (a password changed because it leaked may have leaked with them)."""
        if problem := password_problem(password):
            return ActionResult(False, problem, "invalid")
        hashed = await asyncio.to_thread(self._hasher.hash, password)

        async def change(uow: PeopleUnitOfWork, person: Person) -> str:
            await uow.people.set_password(person.id, hashed, self._clock.now())
            await uow.people.end_sessions(person.id)
            if keep_tokens:
                return f"{person.name}'s password is changed; their sessions are ended, their API tokens kept"
            revoked = await uow.people.revoke_tokens(person.id)
            return f"{person.name}'s password is changed; their sessions are ended and {revoked} API token(s) revoked"

        return await self._change(name, "user-password", actor, change)

    async def issue_token(self, name: str, actor: Actor) -> tuple[ActionResult, str | None]:
        """A new personal API token; the token itself is in the answer only, never stored."""
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)

        async def change(uow: PeopleUnitOfWork, person: Person) -> str:
            await uow.people.add_token(person.id, token_hash(token), self._clock.now())
            return f"a new API token for {person.name} (acts as api:{person.name}, {person.role.value})"

        result = await self._change(name, "user-token", actor, change)
        return result, (token if result.ok else None)

    async def revoke_tokens(self, name: str, actor: Actor) -> ActionResult:
        async def change(uow: PeopleUnitOfWork, person: Person) -> str:
            count = await uow.people.revoke_tokens(person.id)
            return f"{count} API token(s) of {person.name} revoked"

        return await self._change(name, "user-revoke-tokens", actor, change)

    # ---- signing in

    async def login(self, name: str, password: str, address: str) -> Session | None:
        """A new session when the name and password are right and the person is enabled;
        None otherwise, after the same work whatever was wrong (an unknown name is checked
        against a dummy hash). Audited either way."""
        try:
            key = normalize_name(name)
        except ValueError:
            key = None
        async with self._uow(read_only=True) as uow:
            found = await uow.people.credentials(key) if key is not None else None
        stored = found.password_hash if found is not None else await self._dummy()
        good = await asyncio.to_thread(self._verify, stored, password)
        now = self._clock.now()
        person = found.person if found is not None else None
        rehashed = None  # the hasher's parameters went up since this hash was made: hashed anew
        if found is not None and good and self._hasher.check_needs_rehash(found.password_hash):
            rehashed = await asyncio.to_thread(self._hasher.hash, password)
        async with self._uow() as uow:
            if person is None or not good or person.disabled:
                why = "unknown name" if person is None else ("disabled" if good else "wrong password")
                actor = f"web:{person.name}" if person is not None else "web:anonymous"
                target = f"user:{person.name}" if person is not None else "user:?"
                await uow.audit.add(AuditEntry(actor, "login", target, False, f"{why}; from {address}", now))
                await uow.commit()
                return None
            token = secrets.token_urlsafe(32)
            await uow.people.purge_sessions(now)
            await uow.people.add_session(person.id, token_hash(token), now, now + self.session_lifetime)
            if rehashed is not None:
                await uow.people.set_password(person.id, rehashed, now)
            await uow.audit.add(
                AuditEntry(f"web:{person.name}", "login", f"user:{person.name}", True, f"from {address}", now)
            )
            await uow.commit()
        return Session(person, token)

    async def session_person(self, token: str) -> Person | None:
        """The enabled person signed in by this session token, or None."""
        async with self._uow(read_only=True) as uow:
            person = await uow.people.by_session(token_hash(token), self._clock.now())
        return person if person is not None and not person.disabled else None

    async def logout(self, token: str, person: Person | None) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.people.end_session(token_hash(token))
            if person is not None:
                await uow.audit.add(AuditEntry(f"web:{person.name}", "logout", f"user:{person.name}", True, "", now))
            await uow.commit()

    async def token_person(self, token: str) -> Person | None:
        """The enabled holder of this personal API token, or None."""
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        async with self._uow(read_only=True) as uow:
            person = await uow.people.by_token(token_hash(token))
        return person if person is not None and not person.disabled else None

    # ---- helpers

    async def _change(self, name: str, action: str, actor: Actor, change: _Change) -> ActionResult:
        try:
            name = normalize_name(name)
        except ValueError as e:
            return ActionResult(False, str(e), "invalid")
        target = f"user:{name}"
        async with self._uow() as uow:
            if refused := await self._unless_admin(uow, actor, action, target):
                return refused
            person = await uow.people.get_by_name(name)
            if person is None:
                return ActionResult(False, f"there is nobody named {name!r} (see `signaldesk users list`)", "not_found")
            message = await change(uow, person)
            await uow.audit.add(AuditEntry(actor.id, action, target, True, message, self._clock.now()))
            await uow.commit()
        return ActionResult(True, message)

    async def _unless_admin(self, uow: PeopleUnitOfWork, actor: Actor, action: str, target: str) -> ActionResult | None:
        # People only: a Discord approver (no role) may run the desk's commands, not manage people.
        if actor.role is not None and actor.role.includes(Role.ADMIN):
            return None
        await uow.audit.add(AuditEntry(actor.id, action, target, False, "not an admin", self._clock.now()))
        await uow.commit()
        return ActionResult(False, f"{actor.name} may not manage people: admins only", "forbidden")

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        return self._dummy_hash


CLI_ACTOR = Actor("cli", "the command line", role=Role.ADMIN)
