"""The desk's commands: close a position, pause or resume a bot, change its mode, halt all.

Closing needs an approver; the others (pause, resume, mode, halt, resume-all) an admin.
Discord members keep their rule (an approver may do all of them). Every command, allowed or
not, is audited with its actor."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from trading.domain.events import (
    BotStateChanged,
    HaltChanged,
    Notice,
)
from trading.domain.legs import on_account
from trading.domain.people import Role
from trading.domain.position import Position
from trading.domain.records import AuditEntry, Bot, ControlState, StoredSignal
from trading.domain.signals import SignalAction
from trading.domain.values import Mode
from trading.services.actions import ActionResult, Actor
from trading.services.context import UseCase
from trading.services.ports import UnitOfWork
from trading.services.synthetic import bot_named, queue_synthetic


class Commands(UseCase):
    """What a person on the desk may order."""

    async def close_position(self, bot_name: str, actor: Actor, account: str | None = None) -> ActionResult:
        """Close the bot's position: on every account it holds one, or on `account` only."""
        if refused := await self._access.refusal(actor, Role.APPROVER, "close", f"bot:{bot_name}", "close positions"):
            return refused
        bot = await bot_named(self._uow, bot_name)
        if bot is None:
            return ActionResult(False, f"no bot named {bot_name!r}", "not_found")
        accounts = bot.config.account_names
        if account is not None:
            mine = [a for a in accounts if a.lower() == account.lower()]
            if not mine:
                return ActionResult(
                    False,
                    f"bot {bot_name} does not trade on account {account!r} (its accounts: {', '.join(accounts)})",
                    "invalid",
                )
            accounts = tuple(mine)
        held: list[tuple[Bot, Position]] = []
        async with self._uow() as uow:
            for name in accounts:
                leg = on_account(bot, name)
                pos = await uow.positions.get(
                    bot.id, leg.config.symbol, account=name, multiplier=Decimal(1), for_update=False
                )
                if not pos.is_flat:
                    held.append((leg, pos))
        if not held:
            where = f" on account {accounts[0]}" if account is not None else ""
            return ActionResult(False, f"{bot_name} has no open position{where}", "invalid")
        closing: list[str] = []
        first: StoredSignal | None = None
        for leg, pos in held:
            price = await self._market.mark(leg, pos) or pos.average_price or Decimal(1)
            stored = await queue_synthetic(
                self._uow, self._clock, leg, SignalAction.CLOSE, price, actor, f"close by {actor.name}"
            )
            first = first or stored
            on = f" on {leg.config.broker_account}" if bot.config.accounts is not None else ""
            closing.append(f"{pos.side} {pos.quantity}{on} (signal #{stored.id})")
        assert first is not None
        async with self._uow() as uow:
            stopped = await _stop_exit_retries(uow, bot.id, f"closed by {actor.name} (signal #{first.id})")
            detail = ", ".join(closing) + ("; the stop monitor's retries stopped" if stopped else "")
            await uow.audit.add(AuditEntry(actor.id, "close", f"bot:{bot_name}", True, detail, self._clock.now()))
            await uow.commit()
        self.executor.watchlist.changed()
        self._wake(bot.id)
        return ActionResult(True, f"closing {bot_name}'s {', '.join(closing)}", signal=first)

    async def pause(self, bot_name: str, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self._bot_change(bot_name, actor, "pause", reason)

    async def resume(self, bot_name: str, actor: Actor) -> ActionResult:
        return await self._bot_change(bot_name, actor, "resume", None)

    async def set_mode(self, bot_name: str, mode: Mode, actor: Actor) -> ActionResult:
        return await self._bot_change(bot_name, actor, f"mode {mode.value}", None, mode)

    async def _bot_change(
        self, bot_name: str, actor: Actor, change: str, reason: str | None, mode: Mode | None = None
    ) -> ActionResult:
        verb = change.split()[0]
        if refused := await self._access.refusal(actor, Role.ADMIN, verb, f"bot:{bot_name}", f"{verb} bots"):
            return refused
        now = self._clock.now()
        async with self._uow() as uow:
            bot = await uow.bots.get_by_name(bot_name)
            if bot is None:
                return ActionResult(False, f"no bot named {bot_name!r}", "not_found")
            if mode is not None:
                await uow.bots.set_mode(bot.id, mode)
            elif verb == "pause":
                await uow.bots.set_paused(bot.id, True, reason or f"paused by {actor.name}")
                if await _stop_exit_retries(uow, bot.id, f"paused by {actor.name}"):
                    change += "; the stop monitor's retries of its exit stopped"
            else:
                await uow.bots.set_paused(bot.id, False, None)
                await uow.bots.set_needs_attention(bot.id, False, None)
                # An exit that a pause stopped is tried again at the next pass.
                for watch in await uow.exits.list(bot_id=bot.id):
                    if watch.stopped is not None:
                        await uow.exits.save(watch.resumed())
            await uow.audit.add(AuditEntry(actor.id, verb, f"bot:{bot_name}", True, change, now))
            done = {"pause": "paused", "resume": "resumed"}.get(verb, change)
            uow.emit([BotStateChanged(at=now, bot_name=bot_name, change=done, reason=reason, by=actor.name)])
            await uow.commit()
        self.executor.watchlist.changed()
        self._publish(uow.emitted)
        return ActionResult(True, f"{bot_name} {done}")

    async def halt(self, actor: Actor, reason: str | None = None) -> ActionResult:
        return await self._set_halt(actor, True, reason)

    async def resume_all(self, actor: Actor) -> ActionResult:
        return await self._set_halt(actor, False, None)

    async def _set_halt(self, actor: Actor, halted: bool, reason: str | None) -> ActionResult:
        verb = "halt" if halted else "resume-all"
        if refused := await self._access.refusal(actor, Role.ADMIN, verb, "all", verb):
            return refused
        now = self._clock.now()
        async with self._uow() as uow:
            # The accounts paused on their own stay paused: the halt is apart from them.
            paused = (await uow.control.get()).paused_accounts
            state = (
                ControlState(halted, actor.id, now, reason, paused) if halted else ControlState(paused_accounts=paused)
            )
            await uow.control.set(state)
            await uow.audit.add(AuditEntry(actor.id, verb, "all", True, reason or "", now))
            uow.emit([HaltChanged(at=now, halted=halted, by=actor.name, reason=reason)])
            await uow.commit()
        self._publish(uow.emitted)
        if halted:
            return ActionResult(True, "trading halted: no new entries; closes still allowed; approvals frozen", "ok")
        return ActionResult(True, "trading resumed", "ok")

    async def pause_account(self, account: str, actor: Actor, reason: str | None = None) -> ActionResult:
        """Pause one account for every bot: its legs' entries are refused with the reason
        (closes still go), until /resume-account. The other accounts and /halt are apart."""
        return await self._account_change(account, actor, reason or f"paused by {actor.name}")

    async def resume_account(self, account: str, actor: Actor) -> ActionResult:
        return await self._account_change(account, actor, None)

    async def _account_change(self, account: str, actor: Actor, reason: str | None) -> ActionResult:
        verb = "pause-account" if reason is not None else "resume-account"
        target = f"account:{account}"
        if refused := await self._access.refusal(actor, Role.ADMIN, verb, target, f"{verb.split('-')[0]} accounts"):
            return refused
        now = self._clock.now()
        async with self._uow() as uow:
            traded = sorted({a for b in await uow.bots.list() for a in b.config.account_names}, key=str.lower)
            name = next((a for a in traded if a.lower() == account.lower()), None)
            if name is None:
                known = ", ".join(traded) or "none"
                return ActionResult(
                    False, f"no bot trades on account {account!r} (the accounts bots trade on: {known})", "not_found"
                )
            control = await uow.control.get()
            paused = dict(control.paused_accounts)
            if reason is None:
                if paused.pop(name, None) is None:
                    return ActionResult(False, f"account {name} is not paused", "invalid")
                message = f"account {name} resumed by {actor.name}"
            else:
                paused[name] = reason
                message = f"account {name} paused by {actor.name}: {reason}; its legs' entries are refused"
            await uow.control.set(replace(control, paused_accounts=paused))
            await uow.audit.add(AuditEntry(actor.id, verb, target, True, reason or "", now))
            uow.emit([Notice(at=now, message=message)])
            await uow.commit()
        self._publish(uow.emitted)
        return ActionResult(True, message)


async def _stop_exit_retries(uow: UnitOfWork, bot_id: int, why: str) -> bool:
    """A person stepped in: the stop monitor stops retrying the bot's exits. Whether any was."""
    stopped = False
    for watch in await uow.exits.list(bot_id=bot_id):
        if watch.exiting:
            await uow.exits.save(watch.stop(why))
            stopped = True
    return stopped
