"""Slash commands. Each parses its options, calls the Desk once (or twice, concurrently),
and answers with an embed or the Desk's one sentence.

Every command defers first: a Desk read may ask the broker for quotes, and Discord wants an
answer within 3 seconds. Commands that act answer approvers in the channel (the team sees
who paused what) and everyone else privately with the Desk's refusal, which it audits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, cast

import discord
from discord import app_commands

from bot.discord.cards import (
    bots_embed,
    order_embed,
    pnl_embed,
    positions_embed,
    result_text,
    signal_embed,
    trades_embed,
)
from bot.discord.edge import edge
from bot.discord.inputs import parse_order, period_start
from bot.discord.views import DESK_FAILED, ConfirmView
from trading.domain.inputs import InputError
from trading.domain.values import Mode
from trading.services.actions import ActionResult, Actor, OrderPreview

if TYPE_CHECKING:
    from bot.discord.client import SignalDeskClient

log = logging.getLogger("signaldesk.discord.commands")

Interaction = discord.Interaction[Any]


def _client(interaction: Interaction) -> SignalDeskClient:
    return cast("SignalDeskClient", interaction.client)


async def _bot_names(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    try:
        bots = await asyncio.wait_for(_client(interaction).use_cases.queries.bots(), 1.5)
    except Exception:
        return []
    names = [b.name for b in bots if current.lower() in b.name.lower()]
    return [app_commands.Choice(name=n, value=n) for n in sorted(names)[:25]]


# ---------------------------------------------------------------------- reading


@app_commands.command(name="positions", description="Open positions with average entry, last price and P&L")
@app_commands.describe(bot="Only this bot", account="Only positions held on this account")
@app_commands.autocomplete(bot=_bot_names)
async def positions(interaction: Interaction, bot: str | None = None, account: str | None = None) -> None:
    await interaction.response.defer(thinking=True)
    use_cases = _client(interaction).use_cases
    views, control = await asyncio.gather(use_cases.queries.positions(bot, account), use_cases.queries.control())
    await interaction.edit_original_response(embed=positions_embed(views, control))


@app_commands.command(name="trades", description="Closed trades, newest first")
@app_commands.describe(bot="Only this bot", limit="How many (1 to 50, default 10)")
@app_commands.autocomplete(bot=_bot_names)
async def trades(interaction: Interaction, bot: str | None = None, limit: app_commands.Range[int, 1, 50] = 10) -> None:
    await interaction.response.defer(thinking=True)
    use_cases = _client(interaction).use_cases
    rows, pnl = await asyncio.gather(use_cases.queries.trades(bot, limit), use_cases.queries.pnl(bot))
    await interaction.edit_original_response(embed=trades_embed(rows, pnl.currency, bot, pnl.ticks))


@app_commands.command(name="pnl", description="Realized and unrealized P&L")
@app_commands.describe(
    bot="Only this bot",
    period="From when (UTC calendar): today, week, month or all",
    account="Only the trades and positions on this account",
)
@app_commands.autocomplete(bot=_bot_names)
async def pnl(
    interaction: Interaction,
    bot: str | None = None,
    period: Literal["today", "week", "month", "all"] = "today",
    account: str | None = None,
) -> None:
    await interaction.response.defer(thinking=True)
    since, label = period_start(period, _client(interaction).clock.now())
    view = await _client(interaction).use_cases.queries.pnl(bot, since, account)
    await interaction.edit_original_response(embed=pnl_embed(view, label))


@app_commands.command(name="bots", description="Every bot: symbol, broker, mode, state, size")
async def bots(interaction: Interaction) -> None:
    await interaction.response.defer(thinking=True)
    use_cases = _client(interaction).use_cases
    rows, control = await asyncio.gather(use_cases.queries.bots(), use_cases.queries.control())
    await interaction.edit_original_response(embed=bots_embed(rows, control))


@app_commands.command(name="signal", description="One signal: its state, history and orders")
@app_commands.describe(id="The signal's number (as on its card)")
async def signal(interaction: Interaction, id: app_commands.Range[int, 1]) -> None:
    await interaction.response.defer(thinking=True)
    view = await _client(interaction).use_cases.queries.signal_view(id)
    if view is None:
        await interaction.edit_original_response(content=f"No signal #{id}.")
        return
    await interaction.edit_original_response(embed=signal_embed(view))


# ---------------------------------------------------------------------- acting (approvers)


async def _act(interaction: Interaction, what: str, call: Callable[[Actor], Awaitable[ActionResult]]) -> None:
    client = _client(interaction)
    actor = client.actor(interaction.user)
    await interaction.response.defer(thinking=True, ephemeral=not actor.can_approve)
    try:
        result = await call(actor)
    except Exception:
        log.exception("desk call %s raised", what)
        result = DESK_FAILED
    await interaction.edit_original_response(content=result_text(result))


async def _confirm(
    interaction: Interaction, what: str, question: str, call: Callable[[Actor], Awaitable[ActionResult]]
) -> None:
    actor = _client(interaction).actor(interaction.user)
    if not actor.can_approve:
        await _act(interaction, what, call)  # the Desk refuses and audits
        return
    view = ConfirmView(interaction.user.id, call, what, interaction)
    await interaction.response.send_message(question, view=view)


@app_commands.command(name="close", description="Close a bot's whole position at market (asks to confirm)")
@app_commands.describe(bot="The bot whose position to close", account="Only its position on this account")
@app_commands.autocomplete(bot=_bot_names)
async def close(interaction: Interaction, bot: str, account: str | None = None) -> None:
    use_cases = _client(interaction).use_cases
    where = f" on account **{account}**" if account else ""
    await _confirm(
        interaction,
        f"closing {bot}",
        f"Close the whole **{bot}** position{where} at market?",
        lambda actor: use_cases.commands.close_position(bot, actor, account),
    )


@app_commands.command(name="order", description="Your own order through the bot's engine and checks (asks to confirm)")
@app_commands.describe(
    bot="The bot to trade through",
    side="buy: a long entry; sell: a short one (against an open position the engine reverses or adds)",
    quantity="Contracts (0.01 on an exchange account)",
    type="market (default) or limit",
    limit_price="The limit price (limit orders)",
    stop="Stop loss",
    target="Take profit",
)
@app_commands.autocomplete(bot=_bot_names)
async def order(
    interaction: Interaction,
    bot: str,
    side: Literal["buy", "sell"],
    # Text, as the Edit modal's box: a fraction (0.01 BTC) is the domain's to judge, not Discord's.
    quantity: app_commands.Range[str, 1, 20],
    type: Literal["market", "limit"] = "market",
    limit_price: str | None = None,
    stop: str | None = None,
    target: str | None = None,
) -> None:
    client = _client(interaction)
    use_cases = client.use_cases
    try:
        ticket = parse_order(bot, side, quantity, type, limit_price, stop, target)
    except InputError as e:
        await interaction.response.send_message(f"⛔ {e} Nothing was placed.", ephemeral=True)
        return
    actor = client.actor(interaction.user)
    if not actor.can_approve:
        await _act(
            interaction, f"order for {bot}", lambda a: use_cases.orders.place_order(ticket, a)
        )  # refused and audited
        return
    await interaction.response.defer(thinking=True)  # the plan reads a quote from the broker
    try:
        seen = await use_cases.orders.preview_order(ticket, actor)
    except Exception:
        log.exception("desk call preview order for %s raised", bot)
        seen = OrderPreview(DESK_FAILED)
    if seen.card is None:
        await interaction.edit_original_response(content=result_text(seen.result))
        return
    view = ConfirmView(
        interaction.user.id, lambda a: use_cases.orders.place_order(ticket, a), f"the order for {bot}", interaction
    )
    await interaction.edit_original_response(
        content=f"Place this order? ({ticket.describe()})", embed=order_embed(seen.card), view=view
    )


@app_commands.command(name="cancel", description="Cancel a resting order at the broker (what filled is kept)")
@app_commands.describe(order="The order's client id, as on its log line (e.g. sd-17-1)")
async def cancel(interaction: Interaction, order: str) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, f"cancel {order}", lambda actor: use_cases.orders.cancel_order(order.strip(), actor))


@app_commands.command(name="halt", description="Kill switch: no new entries on any bot (asks to confirm)")
@app_commands.describe(reason="Why, for the log")
async def halt(interaction: Interaction, reason: str | None = None) -> None:
    use_cases = _client(interaction).use_cases
    await _confirm(
        interaction,
        "the halt",
        "**Halt all trading?** No new entries on any bot; closes stay allowed; pending approvals freeze.",
        lambda actor: use_cases.commands.halt(actor, reason),
    )


@app_commands.command(name="pause", description="Pause a bot: its alerts are refused until resumed")
@app_commands.describe(bot="The bot to pause", reason="Why, for the log")
@app_commands.autocomplete(bot=_bot_names)
async def pause(interaction: Interaction, bot: str, reason: str | None = None) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, f"pause {bot}", lambda actor: use_cases.commands.pause(bot, actor, reason))


@app_commands.command(name="resume", description="Resume a paused bot (and clear 'needs attention')")
@app_commands.describe(bot="The bot to resume")
@app_commands.autocomplete(bot=_bot_names)
async def resume(interaction: Interaction, bot: str) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, f"resume {bot}", lambda actor: use_cases.commands.resume(bot, actor))


@app_commands.command(name="mode", description="Switch a bot between auto (execute at once) and approve")
@app_commands.describe(bot="The bot", mode="auto: execute at once; approve: ask here first")
@app_commands.autocomplete(bot=_bot_names)
async def mode(interaction: Interaction, bot: str, mode: Literal["auto", "approve"]) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, f"mode {mode} for {bot}", lambda actor: use_cases.commands.set_mode(bot, Mode(mode), actor))


@app_commands.command(
    name="pause-account", description="Pause one account: its legs' entries are refused until resumed"
)
@app_commands.describe(account="The account to pause (for every bot on it)", reason="Why, for the log")
async def pause_account(interaction: Interaction, account: str, reason: str | None = None) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, "pause-account", lambda actor: use_cases.commands.pause_account(account, actor, reason))


@app_commands.command(name="resume-account", description="Resume an account paused with /pause-account")
@app_commands.describe(account="The account to resume")
async def resume_account(interaction: Interaction, account: str) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, "resume-account", lambda actor: use_cases.commands.resume_account(account, actor))


@app_commands.command(name="resume-all", description="Lift the halt")
async def resume_all(interaction: Interaction) -> None:
    use_cases = _client(interaction).use_cases
    await _act(interaction, "resume-all", lambda actor: use_cases.commands.resume_all(actor))


COMMANDS: tuple[app_commands.Command[Any, Any, Any], ...] = (
    positions,
    trades,
    pnl,
    bots,
    signal,
    close,
    order,
    cancel,
    halt,
    pause,
    resume,
    mode,
    resume_all,
    edge,
    pause_account,
    resume_account,
)


async def on_command_error(interaction: Interaction, error: app_commands.AppCommandError) -> None:
    """Log it; tell the user in words rather than leave "the application did not respond"."""
    name = interaction.command.name if interaction.command else "?"
    log.error("/%s failed", name, exc_info=error)
    text = "⛔ That failed on our side; it is logged. Nothing was changed by this message."
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(content=text, embed=None, view=None)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user that /%s failed", name)
