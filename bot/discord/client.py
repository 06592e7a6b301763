"""The discord.py client: slash commands on the guild, the approval buttons, the sink."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.access import actor_for
from bot.discord.commands import COMMANDS, on_command_error
from bot.discord.views import APPROVAL_ITEMS, REPAIR_ITEMS
from trading.services.actions import Actor
from trading.services.ports import Clock
from trading.services.use_cases import UseCases

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.settings import Settings
    from trading.services.ledger import Ledger

log = logging.getLogger("signaldesk.discord")


class SignalDeskClient(discord.Client):
    def __init__(
        self,
        settings: Settings,
        use_cases: UseCases,
        clock: Clock,
        refresh_card: Callable[[int], None],
        ledger: Ledger | None = None,
    ) -> None:
        """`refresh_card`: redraws a signal's approval card now (the sink's, which posts the
        cards through this client). `ledger`: what /edge reads (None: /edge says it is not here)."""
        # Interactions carry the member and their roles, so no privileged intents are needed.
        super().__init__(
            intents=discord.Intents(guilds=True),
            guild_ready_timeout=settings.discord_guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.use_cases = use_cases  # what the commands and buttons call
        self.clock = clock  # what /pnl's periods count from
        self.ledger = ledger
        self._refresh_card = refresh_card
        self.role_ids = frozenset(settings.discord_approver_role_ids)
        self.user_ids = frozenset(settings.discord_approver_user_ids)
        self.tree = app_commands.CommandTree(self)
        self.tree.error(on_command_error)
        guild = discord.Object(settings.discord_guild_id) if settings.discord_guild_id else None
        for command in COMMANDS:
            self.tree.add_command(command, guild=guild)

    async def setup_hook(self) -> None:
        # The card buttons of every signal, including cards posted before this start, and
        # the Adopt / Flatten buttons of every mismatch message.
        self.add_dynamic_items(*APPROVAL_ITEMS, *REPAIR_ITEMS)
        guild = discord.Object(self.settings.discord_guild_id) if self.settings.discord_guild_id else None
        try:
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to %s", len(synced), f"guild {guild.id}" if guild else "all guilds")
        except discord.HTTPException as e:
            # The buttons still work without commands; say so rather than stop the desk.
            log.error("could not sync slash commands (%s %s): %s", e.status, e.code, e.text)

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%d guilds)", self.user, len(self.guilds))

    def actor(self, user: discord.abc.User) -> Actor:
        return actor_for(user, self.role_ids, self.user_ids)

    def refresh_card(self, signal_id: int) -> None:
        self._refresh_card(signal_id)
