"""The live feed: GET /api/events?after=N serves the event bus's numbered events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from db.database import Database
from tests.integration.web_support import make_deps
from trading.domain.events import ExecutionFailed, OrderFilled
from trading.services.dispatch import EventBus
from web.app import create_app

AUTH = {"Authorization": "Bearer feed-token"}


async def test_the_feed_pages_through_events_by_sequence_number(sqlite_database: Database) -> None:
    bus = EventBus()
    now = datetime.now(UTC)
    bus.publish(
        [
            OrderFilled(
                at=now,
                bot_name="B",
                signal_id=3,
                client_order_id="sd-3-1",
                symbol="SA40",
                side="buy",
                quantity=1,
                price=Decimal("53211.0"),
            ),
            ExecutionFailed(at=now, bot_name="B", signal_id=4, reason="INSUFFICIENT_MARGIN"),
        ]
    )
    client = create_app(make_deps(sqlite_database, api_token="feed-token", events=bus.since)).test_client()

    first = await (await client.get("/api/events", headers=AUTH)).get_json()
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["last"] == 2
    assert first["events"][0]["text"] == "filled buy 1 SA40 @ 53211.0 (sd-3-1, B)"
    assert first["events"][1]["severity"] == "error" and first["events"][1]["signal_id"] == 4

    bus.publish([ExecutionFailed(at=now, bot_name="B", signal_id=5, reason="x")])
    nxt = await (await client.get("/api/events?after=2", headers=AUTH)).get_json()
    assert [e["seq"] for e in nxt["events"]] == [3]
    empty = await (await client.get("/api/events?after=3", headers=AUTH)).get_json()
    assert empty == {"events": [], "last": 3}


async def test_a_bad_cursor_is_422_naming_it(sqlite_database: Database) -> None:
    client = create_app(make_deps(sqlite_database, api_token="feed-token")).test_client()
    response = await client.get("/api/events?after=-1", headers=AUTH)
    assert response.status_code == 422
    assert "after" in (await response.get_json())["error"]["message"]
