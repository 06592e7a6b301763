"""`signaldesk discord check` and `invite-url` against the loopback fake Discord: a healthy
set-up says all good; each thing a new user gets wrong produces its own plain line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import discord

from bot.cli.discord_check import BOT_PERMISSIONS, check
from bot.settings import Settings
from tests.e2e.fake_discord import FakeDiscord

TOKEN = "check-token.Q2hlY2s.never-printed"
SIGNALDESK = Path(sys.executable).with_name("signaldesk")
SEND = discord.Permissions(send_messages=True).value


@dataclass
class Guild:
    fake: FakeDiscord
    bot_role: int
    approvals: int
    log: int
    errors: int
    trader: int
    on_call: int
    carol: int
    voice: int

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "discord_token": TOKEN,
            "discord_guild_id": self.fake.guild_id,
            "discord_approvals_channel_id": self.approvals,
            "discord_log_channel_id": self.log,
            "discord_error_channel_id": self.errors,
            "discord_approver_role_ids": str(self.trader),
            "discord_approver_user_ids": str(self.carol),
            "discord_error_mention_role_id": self.on_call,
            "discord_api_base_url": self.fake.api_base,
        }
        return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]

    def env(self, **overrides: str) -> dict[str, str]:
        s = self.settings()
        values = {
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_GUILD_ID": str(s.discord_guild_id),
            "DISCORD_APPROVALS_CHANNEL_ID": str(s.discord_approvals_channel_id),
            "DISCORD_LOG_CHANNEL_ID": str(s.discord_log_channel_id),
            "DISCORD_ERROR_CHANNEL_ID": str(s.discord_error_channel_id),
            "DISCORD_APPROVER_ROLE_IDS": str(self.trader),
            "DISCORD_APPROVER_USER_IDS": str(self.carol),
            "DISCORD_ERROR_MENTION_ROLE_ID": str(self.on_call),
            "DISCORD_API_BASE_URL": self.fake.api_base,
        }
        return values | overrides


@asynccontextmanager
async def healthy_guild() -> AsyncIterator[Guild]:
    """A guild set up as docs/discord.md says: the bot's role grants what it needs."""
    fake = FakeDiscord()
    fake.token = TOKEN
    bot_role = fake.add_role("signaldesk", BOT_PERMISSIONS.value)
    fake.bot_roles = (bot_role,)
    guild = Guild(
        fake=fake,
        bot_role=bot_role,
        approvals=fake.add_channel("approvals"),
        log=fake.add_channel("signaldesk-log"),
        errors=fake.add_channel("signaldesk-errors"),
        trader=fake.add_role("trader"),
        on_call=fake.add_role("on-call", mentionable=True),
        carol=fake.add_member("carol").id,
        voice=fake.add_channel("Lounge", kind=2),
    )
    async with fake:
        yield guild


async def problems(settings: Settings) -> list[str]:
    report = await check(settings)
    return report.findings


async def cli(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SIGNALDESK_"))}
    proc = await asyncio.create_subprocess_exec(
        str(SIGNALDESK),
        *args,
        env={**base, **env, "LOG_LEVEL": "DEBUG"},
        cwd=cwd,  # no .env here
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_healthy_set_up_is_all_good_from_the_command_line(tmp_path: Path) -> None:
    async with healthy_guild() as g:
        code, out, err = await cli(tmp_path, g.env(), "discord", "check")
        assert code == 0, out + err
        assert TOKEN not in out + err  # logging at DEBUG
        assert out.splitlines() == [
            'all good: logged in as signaldesk (id 900000000000000100); in the guild "desk"; can post in '
            "#approvals, #signaldesk-log, #signaldesk-errors; approvers: @trader"
        ]
        # It asked Discord itself, with the bot's token.
        assert g.fake.calls_to("GET", rf"^/guilds/{g.fake.guild_id}/members/{g.fake.app_id}$")


async def test_a_refused_token_is_one_line_and_the_token_is_never_printed(tmp_path: Path) -> None:
    async with healthy_guild() as g:
        code, out, err = await cli(tmp_path, g.env(DISCORD_TOKEN="wrong.token.value"), "discord", "check")
        assert code == 1
        assert out.splitlines() == [
            "problem: DISCORD_TOKEN was refused by Discord (401 Unauthorized): copy the bot's token again from the "
            "developer portal (your application > Bot > Reset Token) into DISCORD_TOKEN"
        ]
        assert "wrong.token" not in out + err
        code, out, err = await cli(tmp_path, g.env(), "discord", "check")
        assert code == 0 and TOKEN not in out + err  # not even at LOG_LEVEL=DEBUG


async def test_the_bot_not_in_the_guild() -> None:
    async with healthy_guild() as g:
        g.fake.bot_in_guild = False
        assert await problems(g.settings()) == [
            f"the bot is not in the guild DISCORD_GUILD_ID {g.fake.guild_id} (or the id is wrong): "
            "invite it with the link from `signaldesk discord invite-url`"
        ]


async def test_a_missing_channel_and_a_voice_channel() -> None:
    async with healthy_guild() as g:
        found = await problems(g.settings(discord_approvals_channel_id=1234567, discord_log_channel_id=g.voice))
        assert found == [
            'DISCORD_APPROVALS_CHANNEL_ID 1234567: no such channel in the guild "desk"',
            f"DISCORD_LOG_CHANNEL_ID {g.voice} (#Lounge) is a voice channel, not a text channel: the bot cannot "
            "post orders, fills and closed trades there",
        ]


async def test_an_overwrite_that_denies_send_messages_and_one_that_gives_it_back() -> None:
    async with healthy_guild() as g:
        g.fake.overwrite(g.errors, g.fake.guild_id, deny=SEND)
        assert await problems(g.settings()) == [
            f"DISCORD_ERROR_CHANNEL_ID {g.errors} (#signaldesk-errors): the bot lacks Send Messages there "
            "(denied by the channel's permission overwrite for @everyone)"
        ]
        # A role overwrite comes after @everyone's: allowing it for the bot's role fixes it.
        g.fake.overwrite(g.errors, g.bot_role, allow=SEND)
        assert await problems(g.settings()) == []
        # A member overwrite comes last of all.
        g.fake.overwrite(g.errors, g.fake.app_id, deny=SEND, member=True)
        assert await problems(g.settings()) == [
            f"DISCORD_ERROR_CHANNEL_ID {g.errors} (#signaldesk-errors): the bot lacks Send Messages there "
            "(denied by the channel's permission overwrite for the bot)"
        ]


async def test_permissions_the_bots_roles_do_not_grant() -> None:
    async with healthy_guild() as g:
        g.fake.role_permissions[g.bot_role] = discord.Permissions(view_channel=True, send_messages=True).value
        found = await problems(g.settings())
        assert len(found) == 3, found
        assert found[0] == (
            f"DISCORD_APPROVALS_CHANNEL_ID {g.approvals} (#approvals): the bot lacks Embed Links there (the bot's "
            "roles do not grant it: give the bot's role these permissions, or allow them in the channel)"
        )
        # Administrator grants everything, overwrites included.
        g.fake.role_permissions[g.bot_role] = discord.Permissions(administrator=True).value
        g.fake.overwrite(g.approvals, g.fake.guild_id, deny=SEND)
        assert await problems(g.settings()) == []


async def test_approver_roles_and_users_that_do_not_exist() -> None:
    async with healthy_guild() as g:
        found = await problems(
            g.settings(discord_approver_role_ids=f"{g.trader},4242", discord_approver_user_ids="777")
        )
        assert found == [
            'DISCORD_APPROVER_ROLE_IDS: role 4242 does not exist in the guild "desk" '
            "(Server Settings > Roles, right-click the role > Copy Role ID)",
            'DISCORD_APPROVER_USER_IDS: user 777 is not a member of the guild "desk"',
        ]
        found = await problems(g.settings(discord_approver_role_ids="", discord_approver_user_ids=""))
        assert found == [
            "neither DISCORD_APPROVER_ROLE_IDS nor DISCORD_APPROVER_USER_IDS is set: nobody can approve on Discord"
        ]


async def test_an_unmentionable_error_role_and_a_missing_commands_scope() -> None:
    async with healthy_guild() as g:
        g.fake.mentionable_roles.clear()
        g.fake.fail("GET", r"/commands$", 403)
        assert await problems(g.settings()) == [
            "the bot was added without the applications.commands scope, so its slash commands cannot be "
            "registered: invite it with the link from `signaldesk discord invite-url` (adding it again keeps its "
            "roles)",
            "DISCORD_ERROR_MENTION_ROLE_ID: role @on-call is not mentionable, so error messages will not ping it: "
            'turn on "Allow anyone to @mention this role" (Server Settings > Roles)',
        ]


async def test_unreachable_discord_and_no_token() -> None:
    async with healthy_guild() as g:
        port = g.fake.port
        assert await problems(g.settings(discord_token="")) == [
            "DISCORD_TOKEN is not set: signaldesk runs without Discord; put the bot's token from the developer "
            "portal (your application > Bot) in .env"
        ]
    found = await problems(g.settings(discord_api_base_url=f"http://127.0.0.1:{port}/api/v10"))
    assert len(found) == 1 and found[0].startswith(f"cannot reach Discord at http://127.0.0.1:{port}/api/v10 ")


async def test_invite_url_has_exactly_the_scopes_and_permissions(tmp_path: Path) -> None:
    async with healthy_guild() as g:
        code, out, err = await cli(tmp_path, g.env(), "discord", "invite-url")
        assert code == 0, err
        url, explained = out.splitlines()
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "discord.com", "/oauth2/authorize")
        query = parse_qs(parts.query)
        assert query["client_id"] == [str(g.fake.app_id)]  # asked of Discord with the token
        assert query["scope"] == ["bot applications.commands"]
        assert discord.Permissions(int(query["permissions"][0])) == BOT_PERMISSIONS
        assert query["guild_id"] == [str(g.fake.guild_id)] and query["disable_guild_select"] == ["true"]
        assert explained == "scopes: bot applications.commands; permissions: View Channel, Send Messages, Embed Links"
        assert TOKEN not in out + err

        # The invite's permissions are what the check asks for: a role with exactly them is healthy.
        g.fake.role_permissions[g.bot_role] = int(query["permissions"][0])
        assert await problems(g.settings()) == []

    code, out, err = await cli(tmp_path, {"DISCORD_TOKEN": ""}, "discord", "invite-url", "--client-id", "42")
    assert code == 0 and out.startswith("https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications")
