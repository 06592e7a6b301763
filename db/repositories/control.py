"""control_state: the global halt, one row."""

from __future__ import annotations

import json

from sqlalchemy import select

from db.models import ControlRow, table_of
from db.repositories.base import Repository
from trading.domain.records import ControlState

CONTROL = table_of(ControlRow)
_ROW = 1
_GET = select(CONTROL).where(CONTROL.c.id == _ROW)


class SqlControlRepository(Repository):
    async def get(self) -> ControlState:
        s = self._uow
        row = (await s.execute(_GET)).first()
        if row is None:
            return ControlState()
        return ControlState(
            halted=row.halted,
            halted_by=row.halted_by,
            halted_at=row.halted_at,
            reason=row.reason,
            paused_accounts=json.loads(row.paused_accounts) if row.paused_accounts else {},
        )

    async def set(self, state: ControlState) -> None:
        values = {
            "halted": state.halted,
            "halted_by": state.halted_by,
            "halted_at": state.halted_at,
            "reason": state.reason,
            "paused_accounts": json.dumps(state.paused_accounts, sort_keys=True) if state.paused_accounts else None,
        }
        await self._upsert(CONTROL, {"id": _ROW}, values)
