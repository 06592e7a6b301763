"""Who acts and what they are answered: the front-ends (web, Discord) call the use cases
(trading/services/use_cases.py) with an Actor and get an ActionResult.

Front-ends decide who the actor is and what they may do: a person signed in on the web or
holding an API token carries their role (viewer, approver, admin); Discord decides
`can_approve` from its approver roles. The use cases enforce it, record every act (allowed
or refused) in the audit log with the actor's id, and answer in words.
"""

from __future__ import annotations

from dataclasses import dataclass

from trading.domain.people import Role
from trading.domain.records import (
    StoredSignal,
)
from trading.domain.views import (
    ApprovalCard,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts. `id` goes into the audit log: "web:alice", "api:alice", "api:break-glass",
    "discord:1234", "cli", "monitor", "expiry".

    With a `role` (people of the web desk and their API tokens) the role decides, and
    `can_approve` follows from it. Without one (Discord, the desk's own workers)
    `can_approve` is the front-end's whole rule: an approver may do every desk command,
    as Discord's approver roles always could.
    """

    id: str
    name: str  # for display: "alice", "API", ...
    can_approve: bool = False
    role: Role | None = None

    def __post_init__(self) -> None:
        if self.role is not None:
            object.__setattr__(self, "can_approve", self.role.includes(Role.APPROVER))

    @classmethod
    def person(cls, via: str, name: str, role: Role) -> Actor:
        """A person acting through `via` ("web" or "api"): id "web:alice"."""
        return cls(f"{via}:{name}", name, role=role)

    def may(self, need: Role) -> bool:
        """Whether this actor may do what `need` allows."""
        if self.role is not None:
            return self.role.includes(need)
        return need is Role.VIEWER or self.can_approve


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str  # one sentence for an ephemeral reply or a JSON "message"
    # ok | forbidden | not_found | already_decided | not_pending | invalid | halted | refused | failed
    # | no_mismatch (a repair with nothing to repair) | busy (a signal is executing; try again)
    # | broker_unavailable (the broker did not answer) | no_price (nothing to book a difference at)
    code: str = "ok"
    signal: StoredSignal | None = None


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """A free-form order as it would be placed now: its card (state "preview"), or the
    refusal it would get."""

    result: ActionResult
    card: ApprovalCard | None = None
