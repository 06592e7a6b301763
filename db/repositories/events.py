"""events: the live feed, numbered by the table's id (monotonic across restarts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from db.models import EventRow, table_of
from db.repositories.base import Repository
from trading.domain.events import Event, FeedEvent, Severity, event_data

EVENTS = table_of(EventRow)
_ADD = insert(EVENTS).returning(EVENTS.c.id)
# Many rows in one statement, their numbers returned in the order the rows were given.
_ADD_MANY = insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True)
_AFTER = select(EVENTS).where(EVENTS.c.id > bindparam("after")).order_by(EVENTS.c.id).limit(bindparam("limit"))
_LAST = select(func.max(EVENTS.c.id))


def _values(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "kind": event.kind,
        "severity": event.severity.value,
        "bot_name": event.bot_name,
        "signal_id": event.signal_id,
        "text": event.text(),
        "payload": event_data(event),
    }


class SqlEventRepository(Repository):
    async def add(self, event: Event) -> FeedEvent:
        """Store the event; it comes back with its number."""
        values = _values(event)
        seq: int = (await self._uow.execute(_ADD, values)).scalar_one()
        return FeedEvent(
            seq,
            event.at,
            event.kind,
            event.severity,
            event.bot_name,
            event.signal_id,
            values["text"],
            values["payload"],
        )

    async def add_many(self, events: Sequence[Event]) -> list[Event]:
        """Store the events with one statement; they come back numbered (`seq` set), in order."""
        if not events:
            return []
        rows = await self._uow.execute(_ADD_MANY, [_values(e) for e in events])
        # (one statement for all: the table's insert sentinel keeps the numbers in order)
        return [dataclasses.replace(e, seq=seq) for e, seq in zip(events, rows.scalars(), strict=True)]

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
