"""`signaldesk users ...` against real databases: the first test runs the real command (a
process per call) to add, make a token and disable; the rest call it in this process
(tests/support/cli.py), a second of imports less per call."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from db.database import Database
from tests.support.cli import CliRun, signaldesk_in_process
from trading.domain.people import Role
from trading.domain.records import AuditEntry
from trading.services.people import People

ROOT = Path(__file__).resolve().parents[2]
SIGNALDESK = Path(sys.executable).with_name("signaldesk")
PASSWORD = "a long enough password"


def environment(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "INFO"}


async def signaldesk(url: str, *args: str, stdin: str = "") -> CliRun:
    """The real command, a process of its own."""
    env = environment(url)
    proc = await asyncio.create_subprocess_exec(
        str(SIGNALDESK),
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=60)
    assert proc.returncode is not None
    return CliRun(proc.returncode, out.decode(), err.decode())


async def in_process(url: str, *args: str, stdin: str = "") -> CliRun:
    """The same command in this process."""
    return await signaldesk_in_process(*args, env=environment(url), stdin=stdin, cwd=ROOT)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_add_list_token_set_role_and_disable(database_url: str) -> None:
    added = await signaldesk(
        database_url, "users", "add", "Alice", "--role", "approver", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert (added.code, added.out.strip()) == (0, "added alice as approver"), added.err
    token_run = await signaldesk(database_url, "users", "token", "alice")
    assert token_run.code == 0, token_run.err
    token = token_run.out.strip()
    assert token.startswith("sd_") and len(token) >= 3 + 43  # 32 random bytes, base64url
    assert "shown once" in token_run.err and token not in token_run.err
    listed = await in_process(database_url, "users", "list")
    assert listed.out.splitlines()[1].split() == ["alice", "approver", "active", "1", listed.out.split()[-1]]
    assert (await in_process(database_url, "users", "set-role", "alice", "admin")).out.strip() == (
        "alice is now admin (was approver)"
    )

    db = Database(database_url)
    try:
        people = People(db.uow, Clock())
        holder = await people.token_person(token)
        assert holder is not None and (holder.name, holder.role) == ("alice", Role.ADMIN)
        session = await people.login("alice", PASSWORD, "127.0.0.1")
        assert session is not None
        async with db.engine.connect() as conn:
            stored = (await conn.exec_driver_sql("SELECT token_hash FROM api_tokens")).scalar_one()
        disabled = await signaldesk(database_url, "users", "disable", "alice")
        assert disabled.code == 0 and "disabled" in disabled.out
        assert await people.token_person(token) is None
        assert await people.session_person(session.token) is None
        async with db.engine.connect() as conn:
            hashes = (await conn.exec_driver_sql("SELECT password_hash FROM users")).scalar_one()
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        assert hashes.startswith("$argon2id$") and PASSWORD not in hashes
        async with db.uow(read_only=True) as uow:
            audit: list[AuditEntry] = list(reversed(await uow.audit.list()))
    finally:
        await db.dispose()
    assert [(a.actor, a.action, a.target) for a in audit if a.action.startswith("user-")] == [
        ("cli", "user-add", "user:alice"),
        ("cli", "user-token", "user:alice"),
        ("cli", "user-set-role", "user:alice"),
        ("cli", "user-disable", "user:alice"),
    ]
    for run in (added, token_run, listed, disabled):
        assert PASSWORD not in run.out + run.err


async def test_disable_revokes_tokens_for_good_and_a_new_password_revokes_them_unless_kept(database_url: str) -> None:
    # Issue 31, finding 8: `disable` then `enable` brought an old API token back, and
    # `password` ended sessions but left tokens working.
    for name in ("dora", "pete", "kim"):
        run = await in_process(
            database_url, "users", "add", name, "--role", "admin", "--password-stdin", stdin=PASSWORD
        )
        assert run.code == 0, run.err
    tokens = {
        name: (await in_process(database_url, "users", "token", name)).out.strip() for name in ("dora", "pete", "kim")
    }
    new_password = "another long enough password"
    disabled = await in_process(database_url, "users", "disable", "dora")
    assert disabled.code == 0 and "1 API token(s) revoked" in disabled.out, disabled.out + disabled.err
    assert (await in_process(database_url, "users", "enable", "dora")).code == 0
    changed = await in_process(database_url, "users", "password", "pete", "--password-stdin", stdin=new_password)
    assert changed.code == 0 and "1 API token(s) revoked" in changed.out, changed.out + changed.err
    kept = await in_process(
        database_url, "users", "password", "kim", "--keep-tokens", "--password-stdin", stdin=new_password
    )
    assert kept.code == 0 and "API tokens kept" in kept.out, kept.out + kept.err
    db = Database(database_url)
    try:
        people = People(db.uow, Clock())
        assert await people.token_person(tokens["dora"]) is None  # enabled again, the old token stays dead
        assert await people.token_person(tokens["pete"]) is None
        holder = await people.token_person(tokens["kim"])
        assert holder is not None and holder.name == "kim"
    finally:
        await db.dispose()
    listed = (await in_process(database_url, "users", "list")).out
    assert [line.split()[:4] for line in listed.splitlines()[1:]] == [
        ["dora", "admin", "active", "0"],
        ["kim", "admin", "active", "1"],
        ["pete", "admin", "active", "0"],
    ]


async def test_refusals_say_what_is_wrong_and_change_nothing(database_url: str) -> None:
    first = await in_process(
        database_url, "users", "add", "bob", "--role", "viewer", "--password-stdin", stdin=PASSWORD
    )
    assert first.code == 0, first.err
    cases = [
        (("users", "add", "bob", "--role", "admin", "--password-stdin"), PASSWORD, "already a person named 'bob'"),
        (("users", "add", "carol", "--role", "admin", "--password-stdin"), "short", "at least 12 characters"),
        (("users", "add", "carol", "--role", "admin", "--password-stdin"), "", "no password given"),
        (("users", "add", "bad name!", "--role", "admin", "--password-stdin"), PASSWORD, "letters, digits"),
        (("users", "set-role", "nobody", "admin"), "", "nobody named 'nobody'"),
        (("users", "token", "nobody"), "", "nobody named 'nobody'"),
    ]
    for args, stdin, words in cases:
        run = await in_process(database_url, *args, stdin=stdin)
        assert run.code == 1 and words in run.err, (args, run)
        assert run.out == ""
    listed = await in_process(database_url, "users", "list")
    assert [line.split()[:2] for line in listed.out.splitlines()[1:]] == [["bob", "viewer"]]
