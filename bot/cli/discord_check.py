"""`signaldesk discord check` and `signaldesk discord invite-url`: is the Discord set-up right?

The check talks to Discord's REST API only (no gateway), at the same base URL the desk
uses (DISCORD_API_BASE_URL), with the bot's token, and says in plain words what is wrong:
a refused token, the bot not in the guild, a configured channel that is missing, is not a
text channel or cannot be posted in, a missing permission, approver roles or users that
do not exist. The token is sent in the Authorization header and never printed or logged.

What the bot needs is stated once, here: the scopes and BOT_PERMISSIONS serve both the
invite link and the check.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import discord
import discord.utils
import httpx

from bot.settings import Settings

SCOPES = ("bot", "applications.commands")
# Cards are embeds and event lines are messages; every configured channel needs all three.
# Slash commands come with the applications.commands scope, not with a permission, and
# answers to interactions and edits of the bot's own messages need nothing more.
BOT_PERMISSIONS = discord.Permissions(view_channel=True, send_messages=True, embed_links=True)
VIEW_CHANNEL = discord.Permissions(view_channel=True)
TEXT_CHANNEL_TYPES = {0: "text channel", 5: "announcement channel"}
OTHER_CHANNEL_TYPES = {
    1: "direct message",
    2: "voice channel",
    3: "group direct message",
    4: "category",
    10: "thread",
    11: "thread",
    12: "thread",
    13: "stage channel",
    14: "directory",
    15: "forum channel",
    16: "media channel",
}
TIMEOUT = 15.0
INVITE_HINT = "invite it with the link from `signaldesk discord invite-url`"


_UI_NAMES = {"read_messages": "View Channel", "mention_everyone": "Mention @everyone, @here, and All Roles"}


def permission_names(perms: discord.Permissions) -> list[str]:
    """The permissions as Discord's settings name them: View Channel, Send Messages, ..."""
    return [_UI_NAMES.get(name, name.replace("_", " ").title()) for name, value in perms if value]


def _token(settings: Settings) -> str | None:
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    return token or None


def invite_url(client_id: int, guild_id: int | None = None) -> str:
    """The OAuth2 link that adds the bot with exactly the scopes and permissions it needs."""
    if guild_id is None:
        return discord.utils.oauth_url(client_id, permissions=BOT_PERMISSIONS, scopes=SCOPES)
    return discord.utils.oauth_url(
        client_id, permissions=BOT_PERMISSIONS, scopes=SCOPES, guild=discord.Object(guild_id), disable_guild_select=True
    )


# ---------------------------------------------------------------------------------------------
# effective permissions (Discord's documented order: base from roles, administrator, then the
# channel's overwrites for @everyone, for the member's roles together, for the member)


@dataclass(frozen=True, slots=True)
class Overwrite:
    target_id: int
    is_member: bool
    allow: discord.Permissions
    deny: discord.Permissions


def base_permissions(
    guild_id: int, owner_id: int, member_id: int, member_roles: Iterable[int], roles: dict[int, discord.Permissions]
) -> discord.Permissions:
    if member_id == owner_id:
        return discord.Permissions.all()
    value = roles.get(guild_id, discord.Permissions.none()).value  # @everyone's role id is the guild's
    for rid in member_roles:
        value |= roles.get(rid, discord.Permissions.none()).value
    perms = discord.Permissions(value)
    return discord.Permissions.all() if perms.administrator else perms


def channel_permissions(
    base: discord.Permissions, guild_id: int, member_id: int, member_roles: Iterable[int], overwrites: list[Overwrite]
) -> discord.Permissions:
    if base.administrator:
        return discord.Permissions.all()
    value = base.value
    role_set = set(member_roles)
    everyone = [o for o in overwrites if not o.is_member and o.target_id == guild_id]
    for o in everyone:
        value = (value & ~o.deny.value) | o.allow.value
    allow = deny = 0
    for o in overwrites:
        if not o.is_member and o.target_id in role_set:
            allow |= o.allow.value
            deny |= o.deny.value
    value = (value & ~deny) | allow
    for o in overwrites:
        if o.is_member and o.target_id == member_id:
            value = (value & ~o.deny.value) | o.allow.value
    perms = discord.Permissions(value)
    if not perms.view_channel:
        return discord.Permissions.none()  # a channel one cannot see grants nothing
    return perms


# ---------------------------------------------------------------------------------------------
# the check


class _Stop(Exception):
    """A finding after which nothing else can be checked."""


@dataclass
class Report:
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


class _Api:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url

    async def get(self, path: str) -> tuple[int, Any]:
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as e:
            raise _Stop(f"cannot reach Discord at {self.base_url} ({type(e).__name__}: {e})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 401:
            raise _Stop(
                "DISCORD_TOKEN was refused by Discord (401 Unauthorized): copy the bot's token again from the "
                "developer portal (your application > Bot > Reset Token) into DISCORD_TOKEN"
            )
        if response.status_code == 429:
            raise _Stop("Discord rate-limited the check (429); try again in a minute")
        if response.status_code >= 500:
            raise _Stop(f"Discord answered GET {path} with {response.status_code}; try again later")
        return response.status_code, body


def _message(body: Any) -> str:
    return str(body.get("message")) if isinstance(body, dict) and body.get("message") else "no message"


def _overwrites(channel: dict[str, Any]) -> list[Overwrite]:
    return [
        Overwrite(
            int(o["id"]),
            int(o.get("type", 0)) == 1,
            discord.Permissions(int(o.get("allow", 0))),
            discord.Permissions(int(o.get("deny", 0))),
        )
        for o in channel.get("permission_overwrites") or []
    ]


async def check(settings: Settings) -> Report:
    report = Report()
    token = _token(settings)
    if token is None:
        report.findings.append(
            "DISCORD_TOKEN is not set: signaldesk runs without Discord; put the bot's token from the developer "
            "portal (your application > Bot) in .env"
        )
        return report
    base_url = settings.discord_api_base_url.rstrip("/")
    headers = {"Authorization": f"Bot {token}", "User-Agent": "signaldesk-check"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TIMEOUT) as client:
        try:
            await _check(_Api(client, base_url), settings, report)
        except _Stop as stop:
            report.findings.append(str(stop))
    return report


async def _check(api: _Api, settings: Settings, report: Report) -> None:
    status, me = await api.get("/users/@me")
    if status != 200 or not isinstance(me, dict):
        raise _Stop(f"Discord answered GET /users/@me with {status} ({_message(me)})")
    bot_id = int(me["id"])
    report.summary.append(f"logged in as {me.get('username', '?')} (id {bot_id})")

    guild_id = settings.discord_guild_id
    if guild_id is None:
        raise _Stop("DISCORD_GUILD_ID is not set: put the id of your Discord server in .env")
    status, guild = await api.get(f"/guilds/{guild_id}")
    if status in (403, 404):
        raise _Stop(f"the bot is not in the guild DISCORD_GUILD_ID {guild_id} (or the id is wrong): {INVITE_HINT}")
    if status != 200 or not isinstance(guild, dict):
        raise _Stop(f"Discord answered GET /guilds/{guild_id} with {status} ({_message(guild)})")
    guild_name = str(guild.get("name", guild_id))
    report.summary.append(f'in the guild "{guild_name}"')

    _, role_list = await api.get(f"/guilds/{guild_id}/roles")
    _, channel_list = await api.get(f"/guilds/{guild_id}/channels")
    status, member = await api.get(f"/guilds/{guild_id}/members/{bot_id}")
    if status != 200 or not isinstance(member, dict):
        raise _Stop(f'the bot is not a member of the guild "{guild_name}": {INVITE_HINT}')
    roles = {int(r["id"]): r for r in role_list or []}
    role_perms = {rid: discord.Permissions(int(r.get("permissions", 0))) for rid, r in roles.items()}
    channels = {int(c["id"]): c for c in channel_list or []}
    member_roles = [int(r) for r in member.get("roles", [])]
    base = base_permissions(guild_id, int(guild.get("owner_id", 0)), bot_id, member_roles, role_perms)

    status, _ = await api.get(f"/applications/{bot_id}/guilds/{guild_id}/commands")
    if status == 403:
        report.findings.append(
            "the bot was added without the applications.commands scope, so its slash commands cannot be "
            f"registered: {INVITE_HINT} (adding it again keeps its roles)"
        )

    configured = [
        ("DISCORD_APPROVALS_CHANNEL_ID", settings.discord_approvals_channel_id, "approval cards"),
        ("DISCORD_LOG_CHANNEL_ID", settings.discord_log_channel_id, "orders, fills and closed trades"),
        ("DISCORD_ERROR_CHANNEL_ID", settings.discord_error_channel_id, "failures and refusals"),
    ]
    checked: list[str] = []
    for setting, channel_id, what in configured:
        if channel_id is None:
            line = f"{setting} is not set: {what} are not posted on Discord"
            if setting == "DISCORD_APPROVALS_CHANNEL_ID":
                report.findings.append(line + " (approve-mode signals can then only be decided through the API)")
            else:
                report.notes.append(line)
            continue
        channel = channels.get(channel_id)
        if channel is None:
            report.findings.append(f'{setting} {channel_id}: no such channel in the guild "{guild_name}"')
            continue
        name = f"#{channel.get('name', channel_id)}"
        kind = int(channel.get("type", 0))
        if kind not in TEXT_CHANNEL_TYPES:
            shown = OTHER_CHANNEL_TYPES.get(kind, f"channel of type {kind}")
            report.findings.append(
                f"{setting} {channel_id} ({name}) is a {shown}, not a text channel: the bot cannot post {what} there"
            )
            continue
        overwrites = _overwrites(channel)
        perms = channel_permissions(base, guild_id, bot_id, member_roles, overwrites)
        missing = discord.Permissions(BOT_PERMISSIONS.value & ~perms.value)
        if missing.value:
            report.findings.append(
                f"{setting} {channel_id} ({name}): the bot lacks {', '.join(permission_names(missing))} there "
                f"({_why(missing, base, guild_id, bot_id, member_roles, overwrites, roles)})"
            )
            continue
        checked.append(name)
    if checked:
        report.summary.append(f"can post in {', '.join(checked)}")

    _check_approvers(settings, roles, guild_name, report)
    for user_id in settings.discord_approver_user_ids:
        status, _ = await api.get(f"/guilds/{guild_id}/members/{user_id}")
        if status == 404:
            report.findings.append(
                f'DISCORD_APPROVER_USER_IDS: user {user_id} is not a member of the guild "{guild_name}"'
            )
    _check_mention_role(settings, roles, channels, base, guild_id, bot_id, member_roles, guild_name, report)


def _why(
    missing: discord.Permissions,
    base: discord.Permissions,
    guild_id: int,
    bot_id: int,
    member_roles: list[int],
    overwrites: list[Overwrite],
    roles: dict[int, dict[str, Any]],
) -> str:
    """Where the missing permissions come from, so the user knows what to change."""
    # The overwrites in the order Discord applies them; the last one to deny a bit is to blame.
    stages: list[tuple[str, int, int]] = []
    for o in overwrites:
        if not o.is_member and o.target_id == guild_id:
            stages.append(("@everyone", o.allow.value, o.deny.value))
    mine = [o for o in overwrites if not o.is_member and o.target_id in member_roles]
    roles_allow = 0  # the roles' overwrites apply together: one role's allow beats another's deny
    for o in mine:
        roles_allow |= o.allow.value
    for o in mine:
        name = roles.get(o.target_id, {}).get("name", o.target_id)
        stages.append((f"@{name}", roles_allow, o.deny.value))
    for o in overwrites:
        if o.is_member and o.target_id == bot_id:
            stages.append(("the bot", o.allow.value, o.deny.value))
    blamed: list[str] = []
    for bit in (flag for flag in (1 << i for i in range(missing.value.bit_length())) if missing.value & flag):
        culprit = None
        for label, allow, deny in stages:
            if allow & bit:
                culprit = None
            elif deny & bit:
                culprit = label
        if culprit is not None and culprit not in blamed:
            blamed.append(culprit)
    if blamed:
        return f"denied by the channel's permission overwrite for {', '.join(blamed)}"
    if missing.value & ~base.value:
        return "the bot's roles do not grant it: give the bot's role these permissions, or allow them in the channel"
    return "not allowed in this channel"


def _check_approvers(settings: Settings, roles: dict[int, dict[str, Any]], guild_name: str, report: Report) -> None:
    for role_id in settings.discord_approver_role_ids:
        if role_id not in roles:
            report.findings.append(
                f'DISCORD_APPROVER_ROLE_IDS: role {role_id} does not exist in the guild "{guild_name}" '
                "(Server Settings > Roles, right-click the role > Copy Role ID)"
            )
    if not settings.discord_approver_role_ids and not settings.discord_approver_user_ids:
        report.findings.append(
            "neither DISCORD_APPROVER_ROLE_IDS nor DISCORD_APPROVER_USER_IDS is set: nobody can approve on Discord"
        )
    names = [f"@{roles[r]['name']}" for r in settings.discord_approver_role_ids if r in roles]
    if names:
        report.summary.append(f"approvers: {', '.join(names)}")


def _check_mention_role(
    settings: Settings,
    roles: dict[int, dict[str, Any]],
    channels: dict[int, dict[str, Any]],
    base: discord.Permissions,
    guild_id: int,
    bot_id: int,
    member_roles: list[int],
    guild_name: str,
    report: Report,
) -> None:
    role_id = settings.discord_error_mention_role_id
    if role_id is None:
        return
    role = roles.get(role_id)
    if role is None:
        report.findings.append(
            f'DISCORD_ERROR_MENTION_ROLE_ID: role {role_id} does not exist in the guild "{guild_name}"'
        )
        return
    channel = channels.get(settings.discord_error_channel_id or 0)
    if role.get("mentionable") or channel is None:
        return
    perms = channel_permissions(base, guild_id, bot_id, member_roles, _overwrites(channel))
    if not perms.mention_everyone:
        report.findings.append(
            f"DISCORD_ERROR_MENTION_ROLE_ID: role @{role['name']} is not mentionable, so error messages will not "
            'ping it: turn on "Allow anyone to @mention this role" (Server Settings > Roles)'
        )


# ---------------------------------------------------------------------------------------------
# the commands


async def _application_id(settings: Settings, token: str) -> int:
    base_url = settings.discord_api_base_url.rstrip("/")
    headers = {"Authorization": f"Bot {token}", "User-Agent": "signaldesk-check"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TIMEOUT) as client:
        status, body = await _Api(client, base_url).get("/oauth2/applications/@me")
    if status != 200 or not isinstance(body, dict):
        raise _Stop(f"Discord answered GET /oauth2/applications/@me with {status} ({_message(body)})")
    return int(body["id"])


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.discord_command == "check":
        report = asyncio.run(check(settings))
        for line in report.findings:
            print(f"problem: {line}", file=out)
        for line in report.notes:
            print(f"note: {line}", file=out)
        if report.ok:
            print(f"all good: {'; '.join(report.summary)}", file=out)
            return 0
        return 1
    if args.discord_command == "invite-url":
        client_id: int | None = args.client_id
        if client_id is None:
            token = _token(settings)
            if token is None:
                print(
                    "error: DISCORD_TOKEN is not set; set it, or pass --client-id with the Application ID "
                    "(developer portal > your application > General Information)",
                    file=err,
                )
                return 1
            try:
                client_id = asyncio.run(_application_id(settings, token))
            except _Stop as stop:
                print(f"error: {stop}", file=err)
                return 1
        print(invite_url(client_id, settings.discord_guild_id), file=out)
        print(f"scopes: {' '.join(SCOPES)}; permissions: {', '.join(permission_names(BOT_PERMISSIONS))}", file=out)
        return 0
    print(f"error: unknown discord command {args.discord_command!r}", file=err)
    return 2
