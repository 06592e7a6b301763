"""`/edge [bot] [days]`: the decision ledger (docs/ledger.md) as an embed: per bot, the
desk's P&L against the bot alone's, the edge split into rejections, edits and waiting."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot.discord.cards import BLUE, FIELD_LIMIT, GREEN, RED
from bot.discord.formatting import clip, code_block
from trading.services.ledger import MAX_DAYS, EdgeReport, UnknownBot, figures

if TYPE_CHECKING:
    from bot.discord.client import SignalDeskClient

Interaction = discord.Interaction[Any]


def edge_embed(report: EdgeReport) -> discord.Embed:
    """A pure function of the report: one field a bot (its figures as a table)."""
    total = sum((b.ledger.edge for b in report.bots), Decimal(0)) if report.bots else None
    embed = discord.Embed(
        title=f"Edge · last {report.days} day{'s' if report.days != 1 else ''}",
        colour=BLUE if total is None else GREEN if total >= 0 else RED,
        description="What the desk's decisions made against each bot alone (replayed on the stored candles)."
        if report.bots
        else "No decisions in this period.",
    )
    for bot in report.bots[:25]:
        rows = figures(bot)
        width = max(len(label) for label, _ in rows)
        body = "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)
        embed.add_field(name=bot.ledger.bot, value=code_block(clip(body, FIELD_LIMIT - 8)), inline=False)
    return embed


@app_commands.command(name="edge", description="What the desk's decisions made against each bot alone")
@app_commands.describe(bot="Only this bot", days=f"The last this many days (1 to {MAX_DAYS}, default 30)")
async def edge(
    interaction: Interaction, bot: str | None = None, days: app_commands.Range[int, 1, MAX_DAYS] = 30
) -> None:
    await interaction.response.defer(thinking=True)
    client = cast("SignalDeskClient", interaction.client)
    if client.ledger is None:
        await interaction.edit_original_response(content="The decision ledger is not available in this process.")
        return
    try:
        report = await client.ledger.edge(bot, days)
    except UnknownBot as e:
        await interaction.edit_original_response(content=f"⛔ {e}.")
        return
    await interaction.edit_original_response(embed=edge_embed(report))
