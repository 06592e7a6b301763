"""audit_log (every human action, allowed or refused) and webhook_logs (every request)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select

from db.models import AuditRow, WebhookLogRow, table_of
from db.repositories.base import Repository
from trading.domain.records import AuditEntry, WebhookLogEntry, WebhookLogFilter

AUDIT = table_of(AuditRow)
WEBHOOK_LOGS = table_of(WebhookLogRow)
_ADD_AUDIT = insert(AUDIT)
_ADD_WEBHOOK_LOG = insert(WEBHOOK_LOGS)


class SqlAuditRepository(Repository):
    async def add(self, entry: AuditEntry) -> None:
        s = self._uow
        await s.execute(
            _ADD_AUDIT,
            {
                "at": entry.at or self._now(),
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "allowed": entry.allowed,
                "detail": entry.detail,
            },
        )

    async def list(self, *, limit: int = 100) -> builtins.list[AuditEntry]:
        s = self._uow
        rows = await s.execute(select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit))
        return [AuditEntry(r.actor, r.action, r.target, r.allowed, r.detail, r.at) for r in rows]


class SqlWebhookLogRepository(Repository):
    async def add(self, entry: WebhookLogEntry) -> None:
        await self._uow.execute(_ADD_WEBHOOK_LOG, _log_row(entry))

    async def add_many(self, entries: Sequence[WebhookLogEntry]) -> None:
        if entries:
            # One executemany (the driver's, or SQLAlchemy's multi-row INSERT), not a
            # statement per entry.
            await self._uow.execute(_ADD_WEBHOOK_LOG, [_log_row(e) for e in entries])

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        oldest = (
            select(WEBHOOK_LOGS.c.id)
            .where(WEBHOOK_LOGS.c.received_at < cutoff)
            .order_by(WEBHOOK_LOGS.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        return await self._delete_ids_in(oldest)

    async def delete_beyond(self, keep: int, *, limit: int) -> int:
        # The id of the newest row past the ones kept; every row up to it goes (in batches).
        first_gone = (
            await self._uow.execute(select(WEBHOOK_LOGS.c.id).order_by(WEBHOOK_LOGS.c.id.desc()).offset(keep).limit(1))
        ).scalar_one_or_none()
        if first_gone is None:
            return 0
        oldest = (
            select(WEBHOOK_LOGS.c.id)
            .where(WEBHOOK_LOGS.c.id <= first_gone)
            .order_by(WEBHOOK_LOGS.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        return await self._delete_ids_in(oldest)

    async def _delete_ids_in(self, ids: Any) -> int:
        # One statement on both databases: DELETE ... WHERE id IN (SELECT ... LIMIT n).
        result = await self._uow.execute(delete(WebhookLogRow).where(WebhookLogRow.id.in_(ids)))
        return int(result.rowcount)

    async def list(self, *, limit: int = 100) -> builtins.list[WebhookLogEntry]:
        s = self._uow
        rows = await s.execute(select(WEBHOOK_LOGS).order_by(WEBHOOK_LOGS.c.id.desc()).limit(limit))
        return [_entry(r) for r in rows]

    async def search(self, where: WebhookLogFilter, *, limit: int = 100) -> builtins.list[WebhookLogEntry]:
        s = self._uow
        stmt = select(WEBHOOK_LOGS)
        if where.bot_id is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.bot_id == where.bot_id)
        if where.status is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.status == where.status)
        if where.since is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.received_at >= where.since)
        if where.until is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.received_at < where.until)
        if where.before_id is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.id < where.before_id)
        rows = await s.execute(stmt.order_by(WEBHOOK_LOGS.c.id.desc()).limit(limit))
        return [_entry(r) for r in rows]

    async def for_signal(self, signal_id: int) -> WebhookLogEntry | None:
        s = self._uow
        stmt = select(WEBHOOK_LOGS).where(WEBHOOK_LOGS.c.signal_id == signal_id).order_by(WEBHOOK_LOGS.c.id).limit(1)
        row = (await s.execute(stmt)).first()
        return _entry(row) if row is not None else None

    async def for_bot(
        self, bot_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> builtins.list[WebhookLogEntry]:
        """A bot's requests, oldest first (by arrival, then by id), optionally since / until
        (both inclusive): what `signaldesk replay --from-db` replays."""
        s = self._uow
        stmt = select(WEBHOOK_LOGS).where(WEBHOOK_LOGS.c.bot_id == bot_id)
        if since is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.received_at >= since)
        if until is not None:
            stmt = stmt.where(WEBHOOK_LOGS.c.received_at <= until)
        rows = await s.execute(stmt.order_by(WEBHOOK_LOGS.c.received_at, WEBHOOK_LOGS.c.id))
        return [_entry(r) for r in rows]


def _log_row(entry: WebhookLogEntry) -> dict[str, Any]:
    return {
        "received_at": entry.received_at,
        "client_ip": entry.client_ip,
        "status": entry.status,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "body": entry.body,
        "bot_id": entry.bot_id,
        "signal_id": entry.signal_id,
    }


def _entry(r: Row[Any]) -> WebhookLogEntry:
    return WebhookLogEntry(
        received_at=r.received_at,
        client_ip=r.client_ip,
        status=r.status,
        outcome=r.outcome,
        reason=r.reason,
        body=r.body,
        bot_id=r.bot_id,
        signal_id=r.signal_id,
        id=r.id,
    )
