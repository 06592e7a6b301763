"""Slow clients against the real server on loopback (issue 15, item 1): a body that does not
arrive in time is answered 408 and its connection closed, a sender cannot hold more than its
share of webhook requests open, and /health answers whatever the slow ones do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx

from bot.serve import hypercorn_config
from bot.settings import Settings
from db.database import Database
from tests.integration.web_support import KEY, add_bot, make_deps, running
from web.app import create_app

TIMEOUT = 1.0  # the body timeout the tests run with


def head(path: str, length: int, port: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def read_answer(reader: asyncio.StreamReader, seconds: float) -> tuple[int, bytes, bool]:
    """The status and head of the first answer, and whether the server then closed the connection."""
    async with asyncio.timeout(seconds):
        raw = await reader.readuntil(b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        length = int(
            next(line.split(b":")[1] for line in raw.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        await reader.readexactly(length)
        closed = await reader.read(1) == b""
    return status, raw, closed


@contextlib.asynccontextmanager
async def server(db: Database, **deps: object) -> AsyncIterator[tuple[str, int]]:
    app = create_app(make_deps(db, **({"body_timeout_seconds": TIMEOUT} | deps)))
    async with running(app, served_as_in_production=True) as base:
        yield base, int(base.rsplit(":", 1)[1])


async def test_a_body_sent_one_byte_at_a_time_is_answered_408_and_closed(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    body = json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5}).encode()
    async with server(sqlite_database) as (_base, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(f"/webhook/{KEY}", len(body), port))
        started = time.monotonic()

        async def trickle() -> None:
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)

        sender = asyncio.create_task(trickle())
        try:
            status, raw, closed = await read_answer(reader, TIMEOUT + 3)
        finally:
            sender.cancel()
            writer.close()
        assert status == 408, raw
        assert time.monotonic() - started < TIMEOUT + 2
        assert closed, "the connection stays open after the 408"
        async with sqlite_database.uow() as uow:
            signals = await uow.signals.list(limit=10)
            logged = await uow.webhook_logs.list(limit=10)
        assert signals == []
        assert [(e.status, (e.reason or "").split(":")[0]) for e in logged] == [(408, "body_timeout")]


async def test_a_content_length_larger_than_what_is_sent_is_answered_408_in_time(
    sqlite_database: Database,
) -> None:
    await add_bot(sqlite_database)
    async with server(sqlite_database) as (_base, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(f"/webhook/{KEY}", 500, port) + b'{"action": "RSI_LONG_ENTRY"}')
        await writer.drain()
        started = time.monotonic()
        try:
            status, raw, closed = await read_answer(reader, TIMEOUT + 3)
        finally:
            writer.close()
        assert status == 408, raw
        assert b"Connection: close" in raw or b"connection: close" in raw
        assert time.monotonic() - started < TIMEOUT + 2
        assert closed


async def test_an_api_body_that_never_arrives_is_408_too(sqlite_database: Database) -> None:
    async with server(sqlite_database, api_token="slow-token-0123456789") as (_base, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/halt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer slow-token-0123456789\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{"
        )
        await writer.drain()
        try:
            status, raw, closed = await read_answer(reader, TIMEOUT + 3)
        finally:
            writer.close()
        assert status == 408, raw
        assert closed


async def test_slow_senders_get_their_share_at_most_and_health_always_answers(sqlite_database: Database) -> None:
    await add_bot(sqlite_database)
    cap = 5
    # A longer body timeout: the slow connections stay in flight for the whole test.
    async with server(sqlite_database, max_connections_per_ip=cap, body_timeout_seconds=5.0) as (base, port):
        conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for _ in range(30):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(head(f"/webhook/{KEY}", 1000, port) + b"{")
                await writer.drain()
                conns.append((reader, writer))
            # Every connection past the cap is refused at once, not queued.
            answers = await asyncio.gather(*(read_answer(r, 0.9) for r, _w in conns[cap:]), return_exceptions=True)
            statuses = [a[0] if isinstance(a, tuple) else repr(a) for a in answers]
            assert statuses == [429] * (30 - cap), statuses
            async with httpx.AsyncClient(timeout=1.0) as client:
                started = time.monotonic()
                health = await client.get(f"{base}/health")
                assert time.monotonic() - started < 1.0
            assert health.status_code == 200, health.text
        finally:
            for _r, w in conns:
                w.close()


def test_serve_sets_hypercorn_timeouts() -> None:
    config = hypercorn_config("127.0.0.1", 8000)
    assert config.read_timeout is not None and 0 < config.read_timeout <= 60
    assert 0 < config.keep_alive_timeout <= 10
    assert 1024 <= config.h11_max_incomplete_size <= 16 * 1024
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert 0 < settings.webhook.body_timeout_seconds <= 10
    assert settings.webhook.max_connections_per_ip > 0
