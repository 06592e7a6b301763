"""Every event read back from the events table is the event that was stored: how the leader
hands the events of other processes to Discord (same class, same fields, same text)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from trading.domain.events import (
    Event,
    FeedEvent,
    Notice,
    OrderFilled,
    Severity,
    event_from_feed,
    feed_event,
)

AT = datetime(2026, 12, 7, 10, 30, 15, 123456, tzinfo=UTC)


def every_event_class() -> list[type[Event]]:
    found, todo = [], [Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def sample(hint: Any, n: int) -> Any:
    if isinstance(hint, UnionType):
        return sample(next(a for a in get_args(hint) if a is not type(None)), n)
    if get_origin(hint) is tuple:
        return (f"item {n}", f"item {n + 1}")
    if get_origin(hint) is dict:
        return {"key": f"value {n}"}
    return {
        str: f"text {n}",
        int: n,
        float: n + 0.25,
        bool: True,
        Decimal: Decimal(f"{n}.50"),
        datetime: AT,
        Severity: Severity.ERROR,
    }[hint]


def an_instance(cls: type[Event]) -> Event:
    hints = get_type_hints(cls)
    skip = {"at", "seq", "severity"}
    values = {f.name: sample(hints[f.name], i + 1) for i, f in enumerate(fields(cls)) if f.name not in skip}
    return cls(at=AT, seq=41, **values)


@pytest.mark.parametrize("cls", every_event_class(), ids=lambda c: c.__name__)
def test_an_event_read_back_is_the_event_stored(cls: type[Event]) -> None:
    event = an_instance(cls)
    back = event_from_feed(feed_event(event))
    assert type(back) is cls
    assert back == event
    assert (back.seq, back.text()) == (41, event.text())


def test_the_classes_checked_include_those_discord_acts_on() -> None:
    names = {c.__name__ for c in every_event_class()}
    assert {"ApprovalRequested", "ApprovalDecided", "ApprovalReminder", "PositionMismatch", "LeaderChanged"} <= names


def test_a_kind_this_process_does_not_know_comes_back_as_a_notice_with_its_text() -> None:
    stored = FeedEvent(7, AT, "SomethingNewer", Severity.ERROR, "B", 3, "a newer process said this", {"x": 1})
    back = event_from_feed(stored)
    assert isinstance(back, Notice)
    assert (back.text(), back.severity, back.signal_id, back.seq) == ("a newer process said this", Severity.ERROR, 3, 7)


def test_prices_come_back_to_the_digit() -> None:
    filled = OrderFilled(
        at=AT, seq=1, client_order_id="sd-1-1", symbol="SA40", side="BUY", quantity=1, price=Decimal("53210.50")
    )
    back = event_from_feed(feed_event(filled))
    assert isinstance(back, OrderFilled) and str(back.price) == "53210.50"
