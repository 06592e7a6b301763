"""The Telegram sink against a loopback fake of the Bot API, through the event bus."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiohttp import web

from bot.cli.main import setup_logging
from bot.telegram import TelegramSink
from tests.support.loopback import serving
from trading.domain.events import ExecutionFailed, TradeClosed
from trading.services.dispatch import EventBus

TOKEN = "123456:secret-token"


class FakeTelegram:
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.fail_next = 0
        self.hang = False
        self.release = asyncio.Event()  # set at teardown so a hanging request ends

    async def send(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False}, status=401)
        if self.hang:
            await self.release.wait()
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"ok": False, "description": "Too Many Requests"}, status=429)
        self.messages.append(json.loads(await request.read()))
        return web.json_response({"ok": True, "result": {}})


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", fake.send)
    async with serving(app) as base_url:
        yield fake, base_url
        fake.release.set()


def trade() -> TradeClosed:
    return TradeClosed(
        at=datetime.now(UTC),
        bot_name="SA40_RSI_Bot",
        symbol="SA40",
        side="long",
        quantity=2,
        entry_price=Decimal("53211.0"),
        exit_price=Decimal("53300.0"),
        realized_pnl=Decimal("178.0"),
        currency="ZAR",
    )


async def test_events_reach_the_chat_and_failures_are_retried(telegram: tuple[FakeTelegram, str]) -> None:
    fake, base = telegram
    fake.fail_next = 1
    sink = TelegramSink(base, TOKEN, "-100200")
    bus = EventBus(attempts=3, backoff=0.01)
    bus.add_sink("telegram", sink)
    bus.publish([trade(), ExecutionFailed(at=datetime.now(UTC), bot_name="SA40_RSI_Bot", signal_id=7, reason="x")])
    await bus.drain(5)
    await bus.close()
    await sink.aclose()
    texts = [m["text"] for m in fake.messages]
    assert texts[0] == "SA40_RSI_Bot closed long 2 SA40 53,211.0 → 53,300.0: +178.00 ZAR"
    assert str(texts[1]).startswith("⚠️ signal #7 for SA40_RSI_Bot failed")
    assert all(m["chat_id"] == "-100200" for m in fake.messages)


async def test_a_hanging_chat_never_delays_publishing(telegram: tuple[FakeTelegram, str]) -> None:
    fake, base = telegram
    fake.hang = True
    sink = TelegramSink(base, TOKEN, "1", timeout=0.2)
    bus = EventBus(attempts=1)
    bus.add_sink("telegram", sink)
    for _ in range(100):
        bus.publish([trade()])  # a plain call: it cannot wait on the hanging chat
    await asyncio.sleep(0.05)
    backlog = bus._workers["telegram"].queue.qsize()
    await bus.close()
    await sink.aclose()
    # every event was handed over while the first send still hangs; none got through
    assert backlog >= 99
    assert fake.messages == []


def test_the_token_stays_out_of_the_sinks_repr() -> None:
    assert TOKEN not in repr(TelegramSink("http://127.0.0.1:1", TOKEN, "1"))


async def test_the_token_stays_out_of_the_logs(
    telegram: tuple[FakeTelegram, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, base = telegram
    setup_logging("INFO")  # what `signaldesk serve` does with the default LOG_LEVEL
    caplog.set_level(logging.INFO)
    sink = TelegramSink(base, TOKEN, "1")
    await sink.publish(trade())
    await sink.aclose()
    assert len(fake.messages) == 1
    assert TOKEN not in caplog.text
