"""The live feed: events numbered and stored by the EventFeed sink, read by GET /api/events,
and pushed to browsers by GET /api/events/stream (Server-Sent Events) from memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import event

from db.database import Database
from tests.integration.web_support import make_deps, running
from trading.domain.events import Event, ExecutionFailed, OrderFilled
from trading.services.dispatch import EventBus
from trading.services.feed import EventFeed
from web.app import create_app

TOKEN = "feed-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def filled(signal_id: int) -> OrderFilled:
    return OrderFilled(
        at=datetime.now(UTC),
        bot_name="B",
        signal_id=signal_id,
        client_order_id=f"sd-{signal_id}-1",
        symbol="SA40",
        side="buy",
        quantity=1,
        price=Decimal("53211.0"),
        tick_size=Decimal("0.5"),
    )


def failed(signal_id: int) -> ExecutionFailed:
    return ExecutionFailed(at=datetime.now(UTC), bot_name="B", signal_id=signal_id, reason="INSUFFICIENT_MARGIN")


async def publish(bus: EventBus, events: list[Event]) -> None:
    bus.publish(events)
    await bus.drain(5)


@asynccontextmanager
async def desk_feed(db: Database) -> AsyncIterator[tuple[EventBus, EventFeed, Any]]:
    """A bus with the feed as its sink, and the app reading that feed."""
    bus = EventBus()
    feed = EventFeed(db.uow)
    bus.add_sink("feed", feed)
    app = create_app(make_deps(db, api_token=TOKEN, feed=feed, sse_keepalive_seconds=0.2))
    try:
        yield bus, feed, app
    finally:
        await bus.close()


async def test_the_feed_pages_through_stored_events(sqlite_database: Database) -> None:
    async with desk_feed(sqlite_database) as (bus, _feed, app):
        await publish(bus, [filled(3), failed(4)])
        client = app.test_client()
        first = await (await client.get("/api/events", headers=AUTH)).get_json()
        assert [e["seq"] for e in first["events"]] == [1, 2] and first["last"] == 2
        assert first["events"][0]["text"] == "filled buy 1 SA40 @ 53,211.0 (sd-3-1, B)"
        assert first["events"][0]["data"] == {
            "client_order_id": "sd-3-1",
            "symbol": "SA40",
            "side": "buy",
            "quantity": 1,
            "price": "53211.0",
            "tick_size": "0.5",
        }
        assert first["events"][1]["severity"] == "error" and first["events"][1]["signal_id"] == 4

        await publish(bus, [failed(5)])
        nxt = await (await client.get("/api/events?after=2", headers=AUTH)).get_json()
        assert [e["seq"] for e in nxt["events"]] == [3]
        one = await (await client.get("/api/events?after=0&limit=1", headers=AUTH)).get_json()
        assert [e["seq"] for e in one["events"]] == [1] and one["last"] == 1
        empty = await (await client.get("/api/events?after=3", headers=AUTH)).get_json()
        assert empty == {"events": [], "last": 3}


async def test_numbering_continues_after_a_restart(database_url: str) -> None:
    """Two processes one after the other on the same database: no number is handed out twice."""
    for run, signal_ids in enumerate([(1, 2), (3,)]):
        db = Database(database_url)
        try:
            await db.upgrade()
            async with desk_feed(db) as (bus, _feed, app):
                await publish(bus, [failed(s) for s in signal_ids])
                answer = await (await app.test_client().get("/api/events", headers=AUTH)).get_json()
        finally:
            await db.dispose()
        expected = [1, 2] if run == 0 else [1, 2, 3]
        assert [(e["seq"], e["signal_id"]) for e in answer["events"]] == list(zip(expected, [1, 2, 3], strict=False))


async def test_a_bad_cursor_is_422_naming_it(sqlite_database: Database) -> None:
    client = create_app(make_deps(sqlite_database, api_token=TOKEN)).test_client()
    response = await client.get("/api/events?after=-1", headers=AUTH)
    assert response.status_code == 422
    assert "after" in (await response.get_json())["error"]["message"]
    stream = await client.get("/api/events/stream", headers=AUTH | {"Last-Event-ID": "x1"})
    assert stream.status_code == 422


async def test_the_stream_needs_a_session_or_a_token(sqlite_database: Database) -> None:
    client = create_app(make_deps(sqlite_database, api_token=TOKEN)).test_client()
    assert (await client.get("/api/events/stream")).status_code == 401


class SseClient:
    """An EventSource's view of the stream: `id:` and `data:` lines, blank line ends an event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def events(self, n: int, seconds: float = 10) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        current: dict[str, str] = {}
        async with asyncio.timeout(seconds):
            async for line in self._lines:
                if line.startswith("id: "):
                    current["id"] = line[4:]
                elif line.startswith("data: "):
                    current["data"] = line[6:]
                elif line == "" and "data" in current:
                    data = json.loads(current["data"])
                    assert int(current["id"]) == data["seq"]
                    got.append(data)
                    current = {}
                    if len(got) == n:
                        return got
        raise AssertionError(f"the stream ended after {len(got)} of {n} events")


@asynccontextmanager
async def streams(url: str, n: int, headers: dict[str, str] | None = None) -> AsyncIterator[list[SseClient]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        clients: list[SseClient] = []
        opened = []
        try:
            for _ in range(n):
                context = http.stream("GET", "/api/events/stream", headers=AUTH | (headers or {}))
                response = await context.__aenter__()
                opened.append(context)
                assert response.status_code == 200, await response.aread()
                assert response.headers["content-type"].startswith("text/event-stream")
                clients.append(SseClient(response))
            yield clients
        finally:
            for context in reversed(opened):
                await context.__aexit__(None, None, None)


async def until(condition: Any, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_a_stream_gets_an_event_published_after_it_connected(sqlite_database: Database) -> None:
    async with desk_feed(sqlite_database) as (bus, feed, app), running(app) as url, streams(url, 1) as [client]:
        await until(lambda: feed.subscribers == 1)
        await publish(bus, [filled(7)])
        [got] = await client.events(1)
        assert (got["seq"], got["kind"], got["signal_id"]) == (1, "OrderFilled", 7)
        assert got["data"]["price"] == "53211.0"


async def test_a_reconnect_with_last_event_id_gets_what_it_missed_then_the_new_ones(
    sqlite_database: Database,
) -> None:
    async with desk_feed(sqlite_database) as (bus, feed, app), running(app) as url:
        async with streams(url, 1) as [client]:
            await until(lambda: feed.subscribers == 1)
            await publish(bus, [failed(1)])
            [seen] = await client.events(1)
        await until(lambda: feed.subscribers == 0)
        await publish(bus, [failed(2), failed(3)])  # while the browser was away
        async with streams(url, 1, {"Last-Event-ID": str(seen["seq"])}) as [client]:
            missed = await client.events(2)
            assert [e["signal_id"] for e in missed] == [2, 3]
            await publish(bus, [failed(4)])
            [new] = await client.events(1)
            assert (new["seq"], new["signal_id"]) == (4, 4)


async def test_n_streams_cost_no_database_reads(sqlite_database: Database) -> None:
    statements: list[str] = []
    transactions: list[bool] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def begun(_conn: Any) -> None:
        transactions.append(True)

    n = 6
    engine = sqlite_database.engine.sync_engine
    async with desk_feed(sqlite_database) as (bus, feed, app), running(app) as url, streams(url, n) as clients:
        await until(lambda: feed.subscribers == n)
        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine, "begin", begun)
        try:
            await publish(bus, [filled(1), failed(2), failed(3)])
            received = await asyncio.gather(*(c.events(3) for c in clients))
            await asyncio.sleep(0.5)  # keep-alives go out meanwhile: they read nothing either
        finally:
            event.remove(engine, "before_cursor_execute", count)
            event.remove(engine, "begin", begun)
    assert all([e["seq"] for e in got] == [1, 2, 3] for got in received)
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO EVENTS")]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(writes) == 3, statements  # one per event, not one per event and client
    assert reads == [], reads
    # Published together, so written together: one transaction for the three.
    assert transactions == [True], statements


async def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for(sqlite_database: Database) -> None:
    feed = EventFeed(sqlite_database.uow, queue_size=2)
    slow = await feed.subscribe()
    for n in range(3):
        await feed.publish(failed(n))
    assert slow.overflowed and feed.subscribers == 0
    assert [e.seq for e in await feed.after(0)] == [1, 2, 3]  # the table has them all for its catch-up
