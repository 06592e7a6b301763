"""Roles, actors and the session secret key."""

from __future__ import annotations

import pytest

from trading.domain.people import Role, normalize_name, password_problem
from trading.services.actions import Actor


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN.includes(Role.APPROVER) and Role.APPROVER.includes(Role.VIEWER)
    assert not Role.VIEWER.includes(Role.APPROVER) and not Role.APPROVER.includes(Role.ADMIN)
    assert Role.parse(" Admin ") is Role.ADMIN
    with pytest.raises(ValueError, match="viewer, approver, admin"):
        Role.parse("root")


def test_a_persons_actor_follows_the_role() -> None:
    viewer = Actor.person("web", "vera", Role.VIEWER)
    approver = Actor.person("api", "anna", Role.APPROVER)
    assert (viewer.id, viewer.can_approve, viewer.may(Role.VIEWER), viewer.may(Role.APPROVER)) == (
        "web:vera",
        False,
        True,
        False,
    )
    assert (approver.id, approver.can_approve, approver.may(Role.APPROVER), approver.may(Role.ADMIN)) == (
        "api:anna",
        True,
        True,
        False,
    )
    # A role wins over a can_approve given by mistake.
    assert not Actor("web:x", "x", can_approve=True, role=Role.VIEWER).can_approve


def test_a_discord_actor_keeps_the_approver_rule() -> None:
    approver = Actor("discord:1", "alice", can_approve=True)
    member = Actor("discord:2", "mallory", can_approve=False)
    assert approver.may(Role.ADMIN) and approver.may(Role.APPROVER)
    assert member.may(Role.VIEWER) and not member.may(Role.APPROVER) and not member.may(Role.ADMIN)


def test_names_and_passwords() -> None:
    assert normalize_name(" Alice ") == "alice"
    for bad in ("", "a b", "web:alice", "-x", "x" * 65, "al\nice"):
        with pytest.raises(ValueError, match="letters, digits"):
            normalize_name(bad)
    assert password_problem("short") == "a password needs at least 12 characters"
    assert password_problem(" twelve chars ok") == "a password may not start or end with a space"
    assert password_problem("twelve chars ok") is None
