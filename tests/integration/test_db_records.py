"""Orders, trades, audit and webhook logs, instruments, the paper ledger, exact values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from db.database import Database
from db.errors import DuplicateOrder, NotFound
from tests.integration.db_support import T0, add_bot, full_signal
from trading.domain.market import BrokerOrder, BrokerOrderStatus, Instrument
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.records import (
    AuditEntry,
    OrderRecord,
    PaperAccountState,
    TradeRecord,
    WebhookLogEntry,
    WebhookLogFilter,
)
from trading.domain.signals import SignalState
from trading.domain.values import OrderSide, OrderType, PositionSide


async def _signal(db: Database, bot_id: int) -> int:
    async with db.uow() as uow:
        stored = await uow.signals.add(
            bot_id, full_signal(), body_hash="h", state=SignalState.RECEIVED, cause="webhook", at=T0
        )
        await uow.commit()
    return stored.id


def _order(signal_id: int, bot_id: int, leg: int = 0) -> OrderRecord:
    return OrderRecord(
        signal_id=signal_id,
        bot_id=bot_id,
        client_order_id=f"sd-{signal_id}-{leg}",
        leg_index=leg,
        leg_kind=LegKind.OPEN,
        position_side=PositionSide.LONG,
        symbol="SA40",
        side=OrderSide.BUY,
        quantity=2,
        type=OrderType.LIMIT,
        limit_price=Decimal("53100.5"),
        created_at=T0,
    )


async def test_orders(database: Database) -> None:
    bot = await add_bot(database)
    signal_id = await _signal(database, bot.id)
    async with database.uow() as uow:
        added = await uow.orders.add(_order(signal_id, bot.id))
        second = await uow.orders.add(_order(signal_id, bot.id, leg=1))
        with pytest.raises(DuplicateOrder, match=f"sd-{signal_id}-0"):
            await uow.orders.add(_order(signal_id, bot.id))
        await uow.commit()  # the refused duplicate left the transaction usable
    assert added.id is not None and added.updated_at == T0
    filled = dataclasses.replace(
        added,
        status=OrderStatus.FILLED,
        broker_order_id="HX-1",
        filled_quantity=2,
        average_fill_price=Decimal("53101.25"),
        applied_quantity=2,
        applied_cost=Decimal("106202.5"),
        updated_at=T0 + timedelta(seconds=2),
    )
    async with database.uow() as uow:
        await uow.orders.update(filled)
        with pytest.raises(NotFound, match="sd-404-0"):
            await uow.orders.update(dataclasses.replace(filled, client_order_id="sd-404-0"))
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.orders.get(added.client_order_id) == filled
        assert await uow.orders.list_for_signal(signal_id) == [filled, second]
        assert await uow.orders.get("sd-0-0") is None


async def test_trades_and_realized_since(database: Database) -> None:
    bot = await add_bot(database)
    other = await add_bot(database, "Other", webhook_key="other_key_1234")

    def trade(bot_id: int, pnl: str, minutes: int) -> TradeRecord:
        return TradeRecord(
            bot_id=bot_id,
            bot_name="x",
            symbol="SA40",
            side=PositionSide.SHORT,
            quantity=1,
            entry_price=Decimal("100.1"),
            exit_price=Decimal("99.9"),
            realized_pnl=Decimal(pnl),
            opened_at=None,
            closed_at=T0 + timedelta(minutes=minutes),
            position_closed=minutes % 2 == 0,
            client_order_id=f"sd-1-{minutes}",
        )

    async with database.uow() as uow:
        stored = [await uow.trades.add(trade(bot.id, p, m)) for p, m in (("0.1", 1), ("0.2", 2), ("-1000.05", 3))]
        await uow.trades.add(trade(other.id, "5", 4))
        await uow.commit()
    async with database.uow() as uow:
        # 0.1 + 0.2 must be exactly 0.3: no float anywhere.
        assert await uow.trades.realized_since(bot.id, T0) == Decimal("-999.75")
        assert await uow.trades.realized_since(bot.id, T0 + timedelta(minutes=2)) == Decimal("-999.85")
        assert await uow.trades.realized_since(bot.id, T0 + timedelta(minutes=1)) - Decimal("-1000.05") == Decimal(
            "0.3"
        )
        assert await uow.trades.realized_since(bot.id, T0 + timedelta(hours=1)) == 0
        assert await uow.trades.list(bot_id=bot.id) == list(reversed(stored))
        assert await uow.trades.list(bot_id=bot.id, since=T0 + timedelta(minutes=2), limit=1) == [stored[2]]
        assert len(await uow.trades.list()) == 4


async def test_audit_and_webhook_logs(database: Database) -> None:
    bot = await add_bot(database)
    entries = [
        AuditEntry("discord:1 (ann)", "approve", "signal:1", True, "", T0),
        AuditEntry("discord:2 (eve)", "halt", "all", False, "not an approver", T0 + timedelta(seconds=1)),
    ]
    log = WebhookLogEntry(T0, "52.89.214.238", 401, "refused", "wrong passphrase", '{"action":"x"}', bot.id)
    async with database.uow() as uow:
        for e in entries:
            await uow.audit.add(e)
        await uow.audit.add(AuditEntry("cli", "import", "bot:x", True))
        await uow.webhook_logs.add(log)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.audit.list()
        logs = await uow.webhook_logs.list()
    assert got[1:] == list(reversed(entries))
    assert got[0].at is not None and got[0].at.tzinfo is UTC
    assert len(logs) == 1 and logs[0].id is not None and dataclasses.replace(logs[0], id=None) == log
    # The web desk's Webhook log filters (newest first) and a signal's own request.
    async with database.uow() as uow:
        later = dataclasses.replace(log, received_at=T0 + timedelta(days=1), status=200, outcome="accepted")
        await uow.webhook_logs.add(later)
        await uow.commit()
    async with database.uow(read_only=True) as uow:
        every = await uow.webhook_logs.search(WebhookLogFilter())
        assert [e.status for e in every] == [200, 401]
        assert [e.status for e in await uow.webhook_logs.search(WebhookLogFilter(status=401))] == [401]
        assert await uow.webhook_logs.search(WebhookLogFilter(bot_id=bot.id + 1)) == []
        since = WebhookLogFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2))
        assert [e.status for e in await uow.webhook_logs.search(since)] == [200]
        assert every[0].id is not None
        older = await uow.webhook_logs.search(WebhookLogFilter(before_id=every[0].id))
        assert [e.status for e in older] == [401]
        assert await uow.webhook_logs.for_signal(12345) is None


async def test_instruments(database: Database) -> None:
    spec = Instrument("SA40", 1, 12, 1, Decimal("0.5"), Decimal(10), "ZAR", "SA 40 index", False)
    async with database.uow() as uow:
        assert await uow.instruments.get("SA40") is None
        await uow.instruments.upsert(spec)
        await uow.instruments.upsert(dataclasses.replace(spec, trading_open=True))
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.instruments.get("SA40") == dataclasses.replace(spec, trading_open=True)


async def test_paper_ledger(database: Database) -> None:
    state = PaperAccountState(
        "PAPER", "ZAR", Decimal("100000.05"), {"SA40": (3, Decimal("100.5")), "X": (-1, Decimal(7))}
    )
    order = BrokerOrder(
        order_id="P-1",
        client_order_id="sd-1-0",
        symbol="SA40",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        quantity=2,
        status=BrokerOrderStatus.NEW,
        limit_price=Decimal("101"),
        time_in_force="GTC",
        created_at=T0,
        updated_at=T0,
        extra={"note": "paper"},
    )
    async with database.uow() as uow:
        assert await uow.paper.load("PAPER") is None
        await uow.paper.save(state)
        await uow.paper.add_order("PAPER", order)
        await uow.commit()
    filled = dataclasses.replace(
        order, status=BrokerOrderStatus.FILLED, filled_quantity=2, average_fill_price=Decimal(101)
    )
    state.positions = {"SA40": (1, Decimal("100.5"))}
    state.balance = Decimal("100002.05")
    async with database.uow() as uow:
        await uow.paper.add_order("PAPER", filled)
        with pytest.raises(DuplicateOrder):
            await uow.paper.add_order("PAPER", dataclasses.replace(order, order_id="P-2"))
        await uow.paper.save(state)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.paper.load("PAPER") == state
        assert await uow.paper.find_order("PAPER", "sd-1-0") == filled
        assert await uow.paper.get_order("PAPER", "P-1") == filled
        assert await uow.paper.get_order("OTHER", "P-1") is None
        assert await uow.paper.find_order("PAPER", "sd-9-9") is None


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (Decimal("0.1"), Decimal("0.1")),
        (Decimal("53210.5"), Decimal("53210.5")),
        (Decimal("-0.000000000001"), Decimal("-0.000000000001")),
        (Decimal("12345678901234567890123456.123456789012"), Decimal("12345678901234567890123456.123456789012")),
        (Decimal("1E+3"), Decimal("1000")),
        (Decimal("2.50"), Decimal("2.5")),
        (Decimal("0.0000000000005"), Decimal("0")),  # half-even at the 12th place
        (Decimal("0.0000000000015"), Decimal("0.000000000002")),
    ],
)
async def test_decimals_round_trip_exactly(database: Database, given: Decimal, stored: Decimal) -> None:
    async with database.uow() as uow:
        await uow.instruments.upsert(Instrument("D", tick_size=given))
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.instruments.get("D")
    assert got is not None and got.tick_size == stored and str(got.tick_size) == str(stored)


async def test_sqlite_keeps_decimals_as_text(sqlite_database: Database) -> None:
    async with sqlite_database.uow() as uow:
        await uow.instruments.upsert(Instrument("D", tick_size=Decimal("0.1")))
        await uow.commit()
    async with sqlite_database.engine.connect() as conn:
        row = (await conn.execute(text("SELECT typeof(tick_size), tick_size FROM instruments"))).one()
    assert tuple(row) == ("text", "0.100000000000")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("NaN"), "cannot store NaN"),
        (Decimal("1E+30"), "more than 26 integer digits"),
        (0.1, "expected a Decimal"),
    ],
)
async def test_bad_decimals_are_refused(database: Database, value: object, message: str) -> None:
    async with database.uow() as uow:
        with pytest.raises(Exception, match=message):
            await uow.instruments.upsert(Instrument("D", tick_size=value))  # type: ignore[arg-type]


async def test_times_come_back_aware_utc(database: Database) -> None:
    plus2 = datetime(2024, 3, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    log = WebhookLogEntry(plus2, "127.0.0.1", 200, "accepted", None, "{}")
    async with database.uow() as uow:
        await uow.webhook_logs.add(log)
        await uow.commit()
    async with database.uow() as uow:
        (got,) = await uow.webhook_logs.list()
    assert got.received_at == plus2
    assert got.received_at.tzinfo is UTC
    assert got.received_at.hour == 12 and got.received_at.microsecond == 123456


async def test_naive_times_are_refused(database: Database) -> None:
    async with database.uow() as uow:
        with pytest.raises(Exception, match="naive datetime"):
            await uow.webhook_logs.add(WebhookLogEntry(datetime(2024, 3, 1), "127.0.0.1", 200, "accepted", None, "{}"))


async def test_realized_since_is_exact_for_extreme_values_and_signs(database: Database) -> None:
    bot = await add_bot(database)
    pnls = ["-0.000000000001", "123456789012.999999999999", "-123456789012.5", "0.000000000001", "-7"]

    async with database.uow() as uow:
        for n, pnl in enumerate(pnls):
            await uow.trades.add(
                TradeRecord(
                    bot_id=bot.id,
                    bot_name=bot.name,
                    symbol="SA40",
                    side=PositionSide.LONG,
                    quantity=1,
                    entry_price=Decimal(1),
                    exit_price=Decimal(1),
                    realized_pnl=Decimal(pnl),
                    opened_at=None,
                    closed_at=T0 + timedelta(seconds=n),
                    position_closed=True,
                    client_order_id=f"sd-x-{n}",
                )
            )
        await uow.commit()

    async with database.uow(read_only=True) as uow:
        assert await uow.trades.realized_since(bot.id, T0) == sum((Decimal(p) for p in pnls), Decimal(0))
        assert await uow.trades.realized_since(bot.id, T0 + timedelta(seconds=4)) == Decimal(-7)


async def test_realized_since_reads_the_covering_index_only_on_sqlite(sqlite_database: Database) -> None:
    # History must cost nothing: the day's sum is one range of the index, never the table's rows.
    bot = await add_bot(sqlite_database)
    async with sqlite_database.uow(read_only=True) as uow:
        conn = await uow.session()
        plan = (
            await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT coalesce(sum(realized_whole), 0), coalesce(sum(realized_frac), 0) "
                f"FROM trade_history WHERE bot_id = {bot.id} AND closed_at >= '2024-01-01 00:00:00'"
            )
        ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING COVERING INDEX ix_trade_history_bot_closed" in details, details


def _closed_trade(bot_id: int, pnl: str, at: datetime) -> TradeRecord:
    """A whole position's trade of one contract, realizing `pnl`, closed at `at`."""
    return TradeRecord(
        bot_id=bot_id,
        bot_name="x",
        symbol="SA40",
        side=PositionSide.LONG,
        quantity=1,
        entry_price=Decimal(1),
        exit_price=Decimal(1),
        realized_pnl=Decimal(pnl),
        opened_at=None,
        closed_at=at,
        position_closed=True,
    )


async def test_realized_since_midnight_reads_the_days_totals_across_days(database: Database) -> None:
    bot = await add_bot(database)
    other = await add_bot(database, "Other", webhook_key="other_key_1234")
    day1 = T0.replace(hour=0, minute=0)
    day2 = day1 + timedelta(days=1)

    async with database.uow() as uow:
        for pnl, at in (("0.1", day1), ("0.2", T0), ("-5.05", day2 - timedelta(microseconds=1)), ("7", day2)):
            await uow.trades.add(_closed_trade(bot.id, pnl, at))
        await uow.trades.add(_closed_trade(other.id, "100", day2 + timedelta(hours=1)))
        # Stamped in another time zone: the day is UTC's.
        await uow.trades.add(_closed_trade(bot.id, "0.003", day2.astimezone(timezone(timedelta(hours=-5)))))
        await uow.commit()

    async with database.uow(read_only=True) as uow:
        assert await uow.trades.realized_since(bot.id, day1) == Decimal("2.253")
        assert await uow.trades.realized_since(bot.id, day2) == Decimal("7.003")
        assert await uow.trades.realized_since(bot.id, T0) == Decimal("2.153")  # part of day 1, then day 2
        assert await uow.trades.realized_since(bot.id, day2 + timedelta(days=1)) == 0
        assert await uow.trades.realized_since(other.id, day1) == Decimal(100)


async def test_totals_by_bot_count_a_fractional_loss_once_as_a_loss(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        for pnl in ("-0.50", "-2.25", "0.75", "3", "0"):
            await uow.trades.add(_closed_trade(bot.id, pnl, T0))
        await uow.commit()
    async with database.uow(read_only=True) as uow:
        (totals,) = await uow.trades.totals_by_bot()
    assert (totals.trades, totals.wins, totals.losses) == (5, 2, 2)
    assert totals.realized == Decimal("1.00")
