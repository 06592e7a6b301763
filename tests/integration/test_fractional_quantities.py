"""Fractional quantities (issue 28 item 5) on both databases: a bot of 0.01 BTC on an
exchange account (the real ccxt against the loopback fake Binance USDⓈ-M, amount step 0.001)
enters, adds 0.005, takes 0.007 off and closes, stored exactly; an approver's edit of 0.02
through the API; whole-contract accounts (Herenya, Paper) refuse fractions with the reason,
at import, at the edit and at execution, and send nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import quart.typing

from bot.bots_file import BotsFileError, import_bots
from brokers.ccxt.client import CcxtBroker
from db.database import Database
from tests.integration.web_support import KEY, add_bot, make_deps
from tests.support.exchange import BTC
from tests.support.fake_binance import FakeBinance
from tests.support.fake_broker import FakeBroker
from trading.domain.config import BotConfig
from trading.domain.position import Position
from trading.services.bootstrap import Services, bootstrap
from trading.services.clock import SystemClock
from web.app import create_app

TOKEN = "api-token-for-fractions-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXCHANGE = "binance-futures"
D = Decimal


@dataclass
class Desk:
    database: Database
    services: Services
    client: quart.typing.TestClientProtocol
    fake: FakeBinance | None = None

    async def alert(self, fields: dict[str, Any], key: str = KEY) -> int:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        response = await self.client.post(f"/webhook/{key}", data=json.dumps({"time": now} | fields).encode())
        answer = await response.get_json()
        assert response.status_code == 200, answer
        signal_id: int = answer["signal_id"]
        await self.services.use_cases.steps.advance(signal_id)
        return signal_id

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        data = json.dumps(body).encode() if body is not None else b""
        response = await self.client.open(path, method=method, headers=AUTH, data=data)
        return response.status_code, await response.get_json(), await response.get_data(as_text=True)

    async def position(self, bot_id: int, symbol: str, account: str) -> Position:
        async with self.database.uow(read_only=True) as uow:
            return await uow.positions.get(bot_id, symbol, account=account, multiplier=D(1), for_update=False)


def desk(database: Database, broker: Any) -> Desk:
    services = bootstrap(database.uow, lambda _name: broker, SystemClock(), lambda _events: None, retry_delay=0.01)
    app = create_app(make_deps(database, services, api_token=TOKEN))
    return Desk(database, services, app.test_client())


def held(fake: FakeBinance) -> Decimal:
    return fake.positions["BTCUSDT"].quantity if "BTCUSDT" in fake.positions else D(0)


async def test_a_bot_of_001_btc_enters_adds_reduces_and_closes_exactly(
    database: Database, exchange: tuple[CcxtBroker, FakeBinance]
) -> None:
    broker, fake = exchange
    d = desk(database, broker)
    bot = await add_bot(
        database,
        symbol=BTC,
        broker_account=EXCHANGE,
        base_position_size="0.01",
        allow_pyramiding=True,
        max_positions=3,
    )
    assert bot.config.base_position_size == D("0.01")

    entry = await d.alert({"action": "RSI_LONG_ENTRY", "price": "65000"})
    assert (await d.position(bot.id, BTC, EXCHANGE)).quantity == D("0.01")
    assert held(fake) == D("0.01") and fake.placed()[0].quantity == D("0.01")

    await d.alert({"action": "RSI_LONG_ENTRY", "price": "65000", "quantity": "0.005"})  # a pyramid add
    position = await d.position(bot.id, BTC, EXCHANGE)
    assert position.quantity == D("0.015") and [e.quantity for e in position.entries] == [D("0.01"), D("0.005")]
    assert held(fake) == D("0.015")

    # The strategy went from long 0.015 to long 0.008: 0.007 off, reduce-only.
    await d.alert(
        {
            "action": "sell",
            "price": "65000",
            "market_position": "long",
            "position_size": "0.008",
            "prev_market_position": "long",
            "prev_market_position_size": "0.015",
        }
    )
    assert (await d.position(bot.id, BTC, EXCHANGE)).quantity == D("0.008")
    assert held(fake) == D("0.008") and fake.placed()[-1].reduce_only

    # What the API answers: JSON numbers, exact.
    status, positions, text = await d.api("GET", "/api/positions")
    assert status == 200 and [p["quantity"] for p in positions["positions"]] == [0.008]
    assert '"quantity":0.008' in text.replace(" ", "")
    status, detail, _ = await d.api("GET", f"/api/signals/{entry}")
    assert detail["filled_quantity"] == 0.01 and detail["state"] == "executed"

    await d.alert({"action": "RSI_CLOSE_LONG", "price": "65000"})
    assert (await d.position(bot.id, BTC, EXCHANGE)).is_flat and held(fake) == 0
    async with database.uow(read_only=True) as uow:
        trades = await uow.trades.list(bot_id=bot.id)
    assert sorted(t.quantity for t in trades) == [D("0.007"), D("0.008")]
    assert [str(o.quantity) for o in fake.placed()] == ["0.01", "0.005", "0.007", "0.008"]


async def test_an_approvers_edit_of_002_on_an_exchange_card_through_the_api(
    database: Database, exchange: tuple[CcxtBroker, FakeBinance]
) -> None:
    broker, fake = exchange
    d = desk(database, broker)
    bot = await add_bot(database, symbol=BTC, broker_account=EXCHANGE, base_position_size="0.01", mode="approve")
    signal_id = await d.alert({"action": "RSI_LONG_ENTRY", "price": "65000"})
    status, answer, _ = await d.api("POST", f"/api/signals/{signal_id}/approve", {"quantity": 0.02})
    assert status == 200, answer
    await d.services.use_cases.steps.advance(signal_id)
    assert (await d.position(bot.id, BTC, EXCHANGE)).quantity == D("0.02")
    assert held(fake) == D("0.02")
    status, detail, _ = await d.api("GET", f"/api/signals/{signal_id}")
    assert (detail["state"], detail["filled_quantity"], detail["approval"]["edits"]["quantity"]) == (
        "executed",
        0.02,
        0.02,
    )


async def test_whole_contract_accounts_refuse_fractions_with_the_reason_and_send_nothing(database: Database) -> None:
    # At import: the bot's size on the account it names.
    with pytest.raises(BotsFileError) as refused:
        await import_bots(
            database,
            [
                BotConfig.parse(
                    {
                        "bot_name": "Half",
                        "symbol": "SA40",
                        "webhook_key": "half_key_12345678",
                        "base_position_size": 0.5,
                    }
                    | {"broker_account": "Herenya"}
                )
            ],
        )
    assert str(refused.value).count("SA40 trades whole contracts on Herenya: 0.5 is not a whole number") == 1
    async with database.uow(read_only=True) as uow:
        assert await uow.bots.get_by_name("Half") is None

    broker = FakeBroker()
    d = desk(database, broker)
    await add_bot(database, broker_account="Paper", mode="approve")
    # At the edit: refused on the card, naming the account.
    pending = await d.alert({"action": "RSI_LONG_ENTRY", "price": "53210.5"})
    status, answer, _ = await d.api("POST", f"/api/signals/{pending}/approve", {"quantity": 1.5})
    assert status != 200 and "SA40 trades whole contracts on Paper: 1.5 is not a whole number" in json.dumps(answer)
    # At intake, on an account the settings define: 422 with the reason, nothing stored.
    await add_bot(database, bot_name="Auto_SA40", webhook_key="auto_sa40_key_1234", broker_account="Paper")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "quantity": "0.5", "time": now}
    response = await d.client.post("/webhook/auto_sa40_key_1234", data=json.dumps(body).encode())
    answer = await response.get_json()
    assert response.status_code == 422 and answer["error"] == {
        "code": "bad_number",
        "message": "SA40 trades whole contracts on Paper: 0.5 is not a whole number",
    }
    # At execution, for what slips through (an accounts file's paper account): refused with
    # the reason, nothing sent.
    await add_bot(database, bot_name="Book_SA40", webhook_key="book_sa40_key_1234", broker_account="book")
    refused_id = await d.alert(body | {"quantity": "2.5"}, "book_sa40_key_1234")
    status, detail, _ = await d.api("GET", f"/api/signals/{refused_id}")
    assert detail["state"] == "refused", detail
    assert "SA40 trades whole contracts on book: 2.5 is not a whole number" in json.dumps(detail["history"])
    assert broker.place_calls == 0 and detail["orders"] == []
