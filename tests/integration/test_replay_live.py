"""Live vs replay: alerts taken by the real intake and executed by the real service layer
against the paper broker, over a real database; then `signaldesk replay --from-db` of that
database's webhook log, with candles built from the prices the paper broker used, must
reproduce the trades (sides, quantities, prices, times) and the realized P&L the live desk
recorded, a stop hit by the stop monitor included."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli.main import main
from brokers.paper import PaperBroker
from db.database import Database
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig
from trading.domain.events import Event
from trading.domain.market import Quote
from trading.services.bootstrap import bootstrap
from trading.services.intake import AlertRequest, Intake
from web.errors import status_for

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
KEY = "live_replay_key_1"


@dataclass
class Clock:
    t: datetime = T0

    def now(self) -> datetime:
        return self.t


@dataclass
class Market:
    """The paper broker's quote source: one price, set by the test as the market moves."""

    price: Decimal = Decimal(100)
    clock: Clock = field(default_factory=Clock)

    async def get_quote(self, symbol: str) -> Quote:
        return Quote(symbol, self.price, self.price, self.price, self.clock.now())


# (hour, minute, price, alert body or None for the stop monitor's turn)
SCRIPT: list[tuple[int, int, str, dict[str, object] | None]] = [
    (0, 30, "100", {"action": "RSI_LONG_ENTRY", "price": "100"}),  # long 1, stop 98
    (1, 30, "102", {"action": "RSI_LONG_ENTRY", "price": "102"}),  # long 2 at 101, stop 99
    (2, 30, "104", {"ticker": "SA40", "action": "sell", "price": "104", "message": "tp1", "tp Close": "50"}),
    (3, 30, "103", {"action": "RSI_SHORT_ENTRY", "price": "103"}),  # closes 1 long, opens 1 short
    (4, 30, "101", {"action": "RSI_CLOSE_SHORT", "price": "101"}),
    (5, 30, "100", {"action": "RSI_LONG_ENTRY", "price": "100"}),  # long 1, stop 98
    (6, 0, "97", None),  # the market opens at 97: the monitor closes at the stop's quote
    (7, 30, "97", {"action": "RSI_CLOSE_LONG", "price": "97"}),  # nothing open: ignored
]


Trade = tuple[str, int, Decimal, Decimal, Decimal, datetime]


async def _live_run(db: Database) -> list[Trade]:
    clock = Clock()
    market = Market(clock=clock)
    broker = PaperBroker.with_unit_of_work(db.uow, quote_source=market, clock=clock.now)
    events: list[Event] = []
    services = bootstrap(db.uow, lambda _name: broker, clock, events.extend, retry_delay=0.01)
    config = BotConfig.parse(
        {
            "bot_name": "Live_Replay",
            "broker_account": "Paper",
            "symbol": "SA40",
            "mode": "auto",
            "webhook_key": KEY,
            "allow_pyramiding": True,
            "max_positions": 3,
            "stop_loss_pct": 2,
            "max_slippage_pct": 1,
        }
    )
    async with db.uow() as uow:
        await uow.bots.upsert(config)
        await uow.commit()
    intake = Intake(db.uow, clock, status_of=status_for, passphrases=TEST_PASSPHRASES)
    try:
        for hour, minute, price, body in SCRIPT:
            clock.t = T0 + timedelta(hours=hour, minutes=minute)
            market.price = Decimal(price)
            if body is None:
                made = await services.use_cases.monitors.check_exits()
                assert len(made) == 1
                ids = made
            else:
                answer = await intake.receive(
                    AlertRequest(KEY, json.dumps(body).encode(), "application/json", "127.0.0.1", clock.now())
                )
                assert answer.outcome == "accepted", answer.message
                assert answer.signal_id is not None
                ids = [answer.signal_id]
            for signal_id in ids:
                for _ in range(10):
                    if (await services.use_cases.steps.advance(signal_id)).finished:
                        break
    finally:
        await intake.aclose()
    trades = await services.use_cases.queries.trades()
    return sorted(
        ((t.side.value, t.quantity, t.entry_price, t.exit_price, t.realized_pnl, t.closed_at) for t in trades),
        key=lambda t: t[5],
    )


def _candles() -> str:
    """An hourly candle per hour of the script, at the price the market had then."""
    rows = ["time,open,high,low,close"]
    prices = {hour: price for hour, _, price, _ in SCRIPT}
    price = "100"
    for hour in range(9):
        price = prices.get(hour, price)
        rows.append(f"{int((T0 + timedelta(hours=hour)).timestamp())},{price},{price},{price},{price}")
    return "\n".join(rows) + "\n"


@pytest.mark.timeout(120)
async def test_a_replay_of_the_webhook_log_reproduces_the_live_trades(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    live = await _live_run(database)
    # worked by hand: tp1 1 @ 104 (+3 on 101), reverse 1 @ 103 (+2), short closed @ 101 (+2), stop @ 97 (-3)
    assert [(side, qty, pnl) for side, qty, _, _, pnl, _ in live] == [
        ("long", 1, Decimal(3)),
        ("long", 1, Decimal(2)),
        ("short", 1, Decimal(2)),
        ("long", 1, Decimal(-3)),
    ]

    candles = tmp_path / "candles.csv"
    candles.write_text(_candles())
    monkeypatch.setenv("DATABASE_URL", database.url)
    code = await _in_thread(["replay", "--from-db", "--bot", "Live_Replay", "--candles", str(candles), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    replayed = list(
        (
            t["side"],
            t["quantity"],
            Decimal(t["entry_price"]),
            Decimal(t["exit_price"]),
            Decimal(t["pnl"]),
            datetime.fromisoformat(t["exit_time"]),
        )
        for t in data["trades"]
    )
    assert sorted(replayed, key=lambda t: t[5]) == live
    assert Decimal(data["summary"]["net_pnl"]) == sum(t[4] for t in live) == Decimal(4)
    assert [t["exit_reason"] for t in data["trades"]] == ["reduce", "reverse", "close", "stop_loss"]
    [ignored] = data["skipped"]
    assert ignored["outcome"] == "ignored" and ignored["action"] == "close_long"


async def _in_thread(argv: list[str]) -> int:
    # The CLI runs its own event loop (asyncio.run), so it cannot run on this test's loop.
    import asyncio

    return await asyncio.to_thread(main, argv)
