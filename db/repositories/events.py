"""events: the live feed, numbered by the table's id (monotonic across restarts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from db.models import EventRow, table_of
from db.repositories.base import Repository
from trading.domain.events import Event, FeedEvent, Severity, event_data

EVENTS = table_of(EventRow)
_ADD = insert(EVENTS).returning(EVENTS.c.id)
_AFTER = select(EVENTS).where(EVENTS.c.id > bindparam("after")).order_by(EVENTS.c.id).limit(bindparam("limit"))
_LAST = select(func.max(EVENTS.c.id))


class SqlEventRepository(Repository):
    async def add(self, event: Event) -> FeedEvent:
        """Store the event; it comes back with its number."""
        data = event_data(event)
        text = event.text()
        values: dict[str, Any] = {
            "at": event.at,
            "kind": event.kind,
            "severity": event.severity.value,
            "bot_name": event.bot_name,
            "signal_id": event.signal_id,
            "text": text,
            "payload": data,
        }
        seq: int = (await self._uow.execute(_ADD, values)).scalar_one()
        return FeedEvent(seq, event.at, event.kind, event.severity, event.bot_name, event.signal_id, text, data)

    async def after(self, after: int, limit: int) -> list[FeedEvent]:
        """Events numbered above `after`, oldest first, at most `limit`."""
        rows = await self._uow.execute(_AFTER, {"after": after, "limit": limit})
        return [_feed_event(r) for r in rows]

    async def last(self) -> int:
        """The highest number handed out so far; 0 for none."""
        found: int | None = (await self._uow.execute(_LAST)).scalar_one()
        return found or 0


def _feed_event(r: Any) -> FeedEvent:
    at: datetime = r.at
    return FeedEvent(r.id, at, r.kind, Severity(r.severity), r.bot_name, r.signal_id, r.text, dict(r.payload))
