"""approvals: the Discord card of a signal and the first decision made on it."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update

from db.codec import decode_edits, encode_edits
from db.errors import NotFound
from db.models import ApprovalRow, table_of
from db.repositories.base import Repository
from trading.domain.records import ApprovalRecord, Decision, SignalEdits

APPROVALS = table_of(ApprovalRow)
_CREATE = insert(APPROVALS)
_GET = select(APPROVALS).where(APPROVALS.c.signal_id == bindparam("signal_id"))
# First wins: the row changes only while undecided.
_DECIDE = (
    update(APPROVALS)
    .where(APPROVALS.c.signal_id == bindparam("of_signal"), APPROVALS.c.decision.is_(None))
    .values(
        decision=bindparam("new_decision", type_=APPROVALS.c.decision.type),
        decided_by=bindparam("by", type_=APPROVALS.c.decided_by.type),
        decided_by_name=bindparam("by_name", type_=APPROVALS.c.decided_by_name.type),
        decided_at=bindparam("at", type_=APPROVALS.c.decided_at.type),
    )
)
_FIRST = (
    update(APPROVALS)
    .where(
        APPROVALS.c.signal_id == bindparam("of_signal"),
        APPROVALS.c.decision.is_(None),
        APPROVALS.c.first_approved_by.is_(None),
    )
    .values(
        first_approved_by=bindparam("by", type_=APPROVALS.c.first_approved_by.type),
        first_approved_at=bindparam("at", type_=APPROVALS.c.first_approved_at.type),
    )
)
_REMINDED = (
    update(APPROVALS)
    .where(
        APPROVALS.c.signal_id == bindparam("of_signal"),
        APPROVALS.c.decision.is_(None),
        APPROVALS.c.reminded_at.is_(None),
    )
    .values(reminded_at=bindparam("at", type_=APPROVALS.c.reminded_at.type))
)
_DECIDED = (
    select(APPROVALS)
    .where(APPROVALS.c.decided_at >= bindparam("since", type_=APPROVALS.c.decided_at.type))
    .order_by(APPROVALS.c.decided_at.desc(), APPROVALS.c.signal_id.desc())
    .limit(bindparam("most"))
)
_PENDING = select(APPROVALS).where(APPROVALS.c.decision.is_(None)).order_by(APPROVALS.c.requested_at)


def _to_record(row: Row[Any]) -> ApprovalRecord:
    m = row._mapping
    return ApprovalRecord(
        signal_id=m["signal_id"],
        requested_at=m["requested_at"],
        expires_at=m["expires_at"],
        channel_id=m["channel_id"],
        message_id=m["message_id"],
        decision=None if m["decision"] is None else Decision(m["decision"]),
        decided_by=m["decided_by"],
        decided_by_name=m["decided_by_name"],
        decided_at=m["decided_at"],
        edits=decode_edits(m["edits"]),
        edited_by=m["edited_by"],
        first_approved_by=m["first_approved_by"],
        first_approved_at=m["first_approved_at"],
        reminded_at=m["reminded_at"],
    )


class SqlApprovalRepository(Repository):
    async def create(self, signal_id: int, requested_at: datetime, expires_at: datetime) -> ApprovalRecord:
        s = self._uow
        await s.execute(_CREATE, {"signal_id": signal_id, "requested_at": requested_at, "expires_at": expires_at})
        return ApprovalRecord(signal_id=signal_id, requested_at=requested_at, expires_at=expires_at)

    async def get(self, signal_id: int) -> ApprovalRecord | None:
        s = self._uow
        row = (await s.execute(_GET, {"signal_id": signal_id})).first()
        return None if row is None else _to_record(row)

    async def _set(self, signal_id: int, **values: Any) -> None:
        s = self._uow
        result = await s.execute(update(APPROVALS).where(APPROVALS.c.signal_id == signal_id).values(**values))
        if result.rowcount != 1:
            raise NotFound(f"no approval for signal {signal_id}")

    async def set_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        await self._set(signal_id, channel_id=channel_id, message_id=message_id)

    async def set_edits(self, signal_id: int, edits: SignalEdits, edited_by: str) -> None:
        await self._set(signal_id, edits=encode_edits(edits), edited_by=edited_by)

    async def decide(
        self, signal_id: int, decision: Decision, by: str, at: datetime, *, name: str | None = None
    ) -> bool:
        s = self._uow
        # On PostgreSQL a concurrent decider waits for the row lock, then finds the decision made.
        params = {
            "of_signal": signal_id,
            "new_decision": Decision(decision).value,
            "by": by,
            "by_name": name[:128] if name else None,
            "at": at,
        }
        result = await s.execute(_DECIDE, params)
        if result.rowcount == 1:
            return True
        if await self.get(signal_id) is None:
            raise NotFound(f"no approval for signal {signal_id}")
        return False

    async def _conditional(self, stmt: Any, signal_id: int, params: dict[str, Any]) -> bool:
        s = self._uow
        result = await s.execute(stmt, {"of_signal": signal_id, **params})
        if result.rowcount == 1:
            return True
        if await self.get(signal_id) is None:
            raise NotFound(f"no approval for signal {signal_id}")
        return False

    async def approve_first(self, signal_id: int, by: str, at: datetime) -> bool:
        return await self._conditional(_FIRST, signal_id, {"by": by, "at": at})

    async def clear_first(self, signal_id: int) -> None:
        await self._set(signal_id, first_approved_by=None, first_approved_at=None)

    async def mark_reminded(self, signal_id: int, at: datetime) -> bool:
        return await self._conditional(_REMINDED, signal_id, {"at": at})

    async def list_pending(self) -> builtins.list[ApprovalRecord]:
        s = self._uow
        rows = await s.execute(_PENDING)
        return [_to_record(r) for r in rows]

    async def list_decided(self, since: datetime, *, limit: int = 50) -> builtins.list[ApprovalRecord]:
        s = self._uow
        rows = await s.execute(_DECIDED, {"since": since, "most": limit})
        return [_to_record(r) for r in rows]
