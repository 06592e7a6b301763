"""People on the desk: their roles, and what each role may do.

Viewers read; approvers also decide signals (approve, edit, reject) and close positions;
admins also pause and resume bots, change modes, halt and resume trading, and manage people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """Whether this role may do what `other` may (admin includes approver includes viewer)."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"role must be one of {', '.join(r.value for r in cls)}, not {text!r}") from None


_RANKS = {Role.VIEWER: 0, Role.APPROVER: 1, Role.ADMIN: 2}

# A person's name is part of actor ids ("web:alice") and of log lines: letters, digits and
# `_ . -` only, so it can never forge another field of a line or an id.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn CPU


def normalize_name(text: str) -> str:
    """The stored form of a person's name (names are not case sensitive); ValueError when unusable."""
    name = text.strip().lower()
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"a name is 1-64 characters: letters, digits and _ . - (starting with a letter or digit), not {text!r}"
        )
    return name


def password_problem(password: str) -> str | None:
    """What is wrong with a new password; None when it may be used."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password may have at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "a password may not start or end with a space"
    return None


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    tokens: int = 0  # how many personal API tokens they hold


@dataclass(frozen=True, slots=True)
class Credentials:
    """A person with their password hash: for the check at login only, never for display."""

    person: Person
    password_hash: str
