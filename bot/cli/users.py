"""`signaldesk users ...`: the people of the web desk, their roles, passwords and API tokens.

The command line acts as the admin "cli" in the audit log (whoever runs it can read the
database anyway). Passwords are read from standard input with --password-stdin (one line)
or asked for without echo; they are never an argument, so never in the shell history or
the process list. An API token is printed once and kept only as its hash.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, TextIO

from trading.domain.people import Role

if TYPE_CHECKING:  # imported when the command runs: `signaldesk` builds this parser for every command
    from bot.settings import Settings
    from trading.services.people import People

ROLES = [r.value for r in Role]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="people of the web desk: roles, passwords, API tokens")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a person (asks for the password, or reads it with --password-stdin)")
    add.add_argument("name", help="the person's name")
    add.add_argument("--role", required=True, choices=ROLES, help="viewer reads; approver decides; admin runs the desk")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    users_sub.add_parser("list", help="list the people with their roles")
    role = users_sub.add_parser("set-role", help="change a person's role")
    role.add_argument("name", help="the person's name")
    role.add_argument("role", choices=ROLES, help="viewer reads; approver decides; admin runs the desk")
    disable = users_sub.add_parser(
        "disable", help="stop a person signing in; ends their sessions and revokes their API tokens for good"
    )
    disable.add_argument("name", help="the person's name")
    enable = users_sub.add_parser("enable", help="let a disabled person in again")
    enable.add_argument("name", help="the person's name")
    password = users_sub.add_parser(
        "password", help="set a new password; ends the person's sessions and revokes their API tokens"
    )
    password.add_argument("name", help="the person's name")
    password.add_argument("--keep-tokens", action="store_true", help="keep the person's API tokens working")
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    token = users_sub.add_parser("token", help="make a personal API token, printed once (acts as api:NAME)")
    token.add_argument("name", help="the person's name")
    revoke = users_sub.add_parser("revoke-tokens", help="revoke every API token of a person")
    revoke.add_argument("name", help="the person's name")


def read_password(from_stdin: bool, stdin: TextIO, err: TextIO) -> str | None:
    if from_stdin:
        line = stdin.readline()
        return line.rstrip("\r\n") if line else None
    try:
        first = getpass.getpass("password: ", stream=err)
        again = getpass.getpass("again: ", stream=err)
    except (EOFError, KeyboardInterrupt):
        return None
    if first != again:
        print("error: the two passwords differ; nothing was changed", file=err)
        return None
    return first


async def run(
    settings: Settings,
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
    people: People | None = None,
) -> int:
    from db.database import Database
    from trading.services.people import People

    out = out or sys.stdout
    err = err or sys.stderr
    stdin = stdin or sys.stdin
    try:
        database = Database(settings.database_url)
    except ValueError as e:
        print(f"error: {e}", file=err)
        return 2
    try:
        await database.upgrade()
        desk_people = people or People(database.uow, database.clock)
        return await _run(desk_people, args, out, err, stdin)
    finally:
        await database.dispose()


async def _run(people: People, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from trading.services.people import CLI_ACTOR

    command = args.users_command
    if command == "list":
        found = await people.list()
        if not found:
            print("nobody yet: signaldesk users add NAME --role admin", file=out)
            return 0
        rows = [["name", "role", "state", "API tokens", "since"]]
        rows += [
            [p.name, p.role.value, "disabled" if p.disabled else "active", str(p.tokens), f"{p.created_at:%Y-%m-%d}"]
            for p in found
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)
        return 0
    if command == "token":
        result, token = await people.issue_token(args.name, CLI_ACTOR)
        if not result.ok or token is None:
            print(f"error: {result.message}", file=err)
            return 1
        print(f"{result.message}; shown once, keep it now:", file=err)
        print(token, file=out)
        return 0
    if command in ("add", "password"):
        password = read_password(args.password_stdin, stdin, err)
        if password is None:
            print("error: no password given; nothing was changed", file=err)
            return 1
        if command == "add":
            result = await people.add(args.name, Role.parse(args.role), password, CLI_ACTOR)
        else:
            result = await people.set_password(args.name, password, CLI_ACTOR, keep_tokens=args.keep_tokens)
    elif command == "set-role":
        result = await people.set_role(args.name, Role.parse(args.role), CLI_ACTOR)
    elif command == "disable":
        result = await people.disable(args.name, CLI_ACTOR)
    elif command == "enable":
        result = await people.enable(args.name, CLI_ACTOR)
    elif command == "revoke-tokens":
        result = await people.revoke_tokens(args.name, CLI_ACTOR)
    else:
        print(f"error: unknown users command {command!r}", file=err)
        return 2
    print(result.message if result.ok else f"error: {result.message}", file=out if result.ok else err)
    return 0 if result.ok else 1
