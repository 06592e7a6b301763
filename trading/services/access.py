"""Who may do what, and the audit of every act: a use case asks `refusal` before it acts and
records what it did with `audit`."""

from __future__ import annotations

from trading.domain.people import Role
from trading.domain.records import AuditEntry
from trading.services.actions import ActionResult, Actor
from trading.services.ports import Clock, UnitOfWorkFactory


class Access:
    """Built once by the bootstrap and handed to each use case that acts for a person."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def refusal(self, actor: Actor, need: Role, action: str, target: str, what: str) -> ActionResult | None:
        """The refusal (audited) when `actor` may not do what `need` allows; None when they may.

        People (actors with a role) need `need`; Discord members (no role) need only be
        approvers, for every desk command, as before there were roles."""
        if actor.may(need):
            return None
        if actor.role is None:
            await self.audit(actor, action, target, False, "not an approver")
            return ActionResult(False, f"{actor.name} may not {what}: approvers only", "forbidden")
        await self.audit(actor, action, target, False, f"role {actor.role.value}; needs {need.value}")
        return ActionResult(
            False, f"{actor.name} may not {what}: {need.value}s only (their role is {actor.role.value})", "forbidden"
        )

    async def audit(self, actor: Actor, action: str, target: str, allowed: bool, detail: str) -> None:
        async with self._uow() as uow:
            await uow.audit.add(AuditEntry(actor.id, action, target, allowed, detail, self._clock.now()))
            await uow.commit()
