"""One alert, one leg per account (issue 27, items 2 and 3), on both databases: the intake
stores a signal per account, each leg is sized on its account (account_sizes, rounded and
clamped, said when trimmed), trades on that account's broker and symbol, holds its own
position, stop and trades, and one account's failure neither blocks nor undoes another's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from db.database import Database
from db.migrate import run_upgrade
from tests.integration.test_web_auth import WebDesk
from tests.integration.web_support import KEY, SystemClock, add_bot, make_deps
from tests.support.fake_broker import FakeBroker
from tests.support.passphrases import TEST_PASSPHRASES
from tests.support.service_rig import ALICE, BOB
from trading.domain.events import Event, ExecutionFailed, Notice
from trading.domain.legs import on_account
from trading.domain.market import Instrument
from trading.domain.people import Role
from trading.domain.position import Position
from trading.domain.records import Bot
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalState
from trading.domain.values import OrderSide
from trading.domain.views import AccountPnl, BotPnl
from trading.services.bootstrap import Services, bootstrap
from trading.services.execution import RunResult
from trading.services.intake import ACCEPTED, REFUSED, AlertRequest, Intake, IntakeResult
from trading.services.runner import UNFINISHED
from web.app import create_app
from web.errors import status_for

TWO = {"accounts": ["main", "prop"], "account_sizes": {"prop": 2}, "stop_loss_pct": "1.5"}


def brokers() -> dict[str, FakeBroker]:
    return {"main": FakeBroker(name="main"), "prop": FakeBroker(name="prop")}


def services(db: Database, by_account: dict[str, FakeBroker], events: list[Event] | None = None) -> Services:
    sink: list[Event] = events if events is not None else []
    return bootstrap(db.uow, lambda name: by_account[name], SystemClock(), sink.extend, retry_delay=0.01)


async def send(db: Database, body: dict[str, Any]) -> IntakeResult:
    intake = Intake(db.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)
    try:
        raw = json.dumps(body).encode()
        return await intake.receive(AlertRequest(KEY, raw, "application/json", "203.0.113.9", datetime.now(UTC)))
    finally:
        await intake.aclose()


async def legs(db: Database, first: int) -> list[tuple[int, str | None, SignalState]]:
    """Every signal from `first` on: (id, its account, its state)."""
    async with db.uow(read_only=True) as uow:
        stored = [await uow.signals.get(i, history=False) for i in range(first, first + 4)]
    return [(s.id, s.signal.account, s.state) for s in stored if s is not None]


async def position(db: Database, bot: Bot, account: str, symbol: str = "SA40") -> Position:
    async with db.uow(read_only=True) as uow:
        return await uow.positions.get(bot.id, symbol, account=account, multiplier=Decimal(1), for_update=False)


async def run_all(s: Services, ids: list[int]) -> list[RunResult]:
    return [await s.use_cases.steps.advance(i) for i in ids]


async def test_one_alert_makes_one_order_per_account_each_sized_and_with_its_own_stop(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    by_account["prop"].ask = Decimal("53251.0")  # prop fills higher: its stop is its own
    result = await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "a1"})
    assert result.outcome == ACCEPTED and result.signal_id is not None
    first = result.signal_id
    assert [(account, state) for _i, account, state in await legs(database, first)] == [
        ("main", SignalState.RECEIVED),
        ("prop", SignalState.RECEIVED),
    ]
    s = services(database, by_account)
    assert all(r.finished for r in await run_all(s, [first, first + 1]))
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED, SignalState.EXECUTED]
    # One order on each account's broker: 1 on main, 2 on prop (prop = 2); ids unique per leg.
    placed = {name: [(o.client_order_id, o.quantity) for o in b.book.values()] for name, b in by_account.items()}
    assert placed == {"main": [(f"sd-{first}-1", 1)], "prop": [(f"sd-{first + 1}-1", 2)]}
    main, prop = await position(database, bot, "main"), await position(database, bot, "prop")
    assert (main.quantity, prop.quantity) == (1, 2)
    # Each leg has its stop, from its own fill.
    # Each leg has its stop, 1.5% under its own fill (53211 and 53251), on the tick.
    assert (main.stop_loss, prop.stop_loss) == (Decimal("52413"), Decimal("52452.5"))
    # The same alert again is a duplicate: nothing new on either account.
    again = await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "a1"})
    assert (again.outcome, again.signal_id) == ("duplicate", first)


async def test_an_alert_may_name_some_accounts_and_one_not_the_bots_is_refused(database: Database) -> None:
    await add_bot(database, **TWO)
    only = await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "p1", "accounts": ["PROP"]})
    assert only.outcome == ACCEPTED and only.signal_id is not None
    assert [(account, state) for _i, account, state in await legs(database, only.signal_id)] == [
        ("prop", SignalState.RECEIVED)
    ]
    refused = await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "x1", "accounts": ["demo"]})
    assert (refused.outcome, refused.code, status_for(refused.code)) == (REFUSED, "unknown_account", 422)
    assert refused.message == (
        "the alert's accounts name 'demo', which is not among bot SA40_RSI_Bot's accounts (main, prop)"
    )


async def test_one_accounts_broker_down_never_blocks_nor_undoes_the_other_leg(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    by_account["main"].faults.down = True
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "d1"})).signal_id
    assert first is not None
    s = services(database, by_account)
    main_try, prop_try = await run_all(s, [first, first + 1])
    # main's leg waits for its broker; prop's is executed at once, on its own.
    assert not main_try.finished and prop_try.finished
    assert [state for *_, state in await legs(database, first)] == [SignalState.RECEIVED, SignalState.EXECUTED]
    assert (await position(database, bot, "prop")).quantity == 2
    # The broker is back: main's leg executes once, prop's is not sent again.
    by_account["main"].faults.down = False
    assert (await s.use_cases.steps.advance(first)).finished
    assert (await s.use_cases.steps.advance(first + 1)).finished
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED, SignalState.EXECUTED]
    assert (by_account["main"].place_calls, by_account["prop"].place_calls) == (1, 1)
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        1,
        2,
    )


async def test_a_scaled_quantity_is_rounded_down_clamped_and_said(database: Database) -> None:
    await add_bot(
        database,
        accounts=["main", "prop"],
        account_sizes={"main": "0.5", "prop": 5},
        account_symbols={"prop": "SA40.M"},
        base_position_size=3,
    )
    by_account = brokers()
    by_account["main"].instrument = Instrument("SA40", min_quantity=2, max_quantity=12, quantity_step=2)
    events: list[Event] = []
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "s1"})).signal_id
    assert first is not None
    s = services(database, by_account, events)
    await run_all(s, [first, first + 1])
    placed = {
        name: [(o.client_order_id.split("-")[-1], o.symbol, o.quantity) for o in b.book.values()]
        for name, b in by_account.items()
    }
    # 3 x 0.5 = 1.5: below main's minimum of 2; 3 x 5 = 15: above the maximum of 12, on prop's own symbol.
    assert placed == {"main": [("1", "SA40", 2)], "prop": [("1", "SA40.M", 12)]}
    said = [e.message for e in events if isinstance(e, Notice)]
    assert f"signal #{first}: open: account main: 3 × 0.5 = 1.5, below SA40's minimum of 2: 2" in said
    assert f"signal #{first + 1}: open: account prop: 3 × 5 = 15, above SA40.M's maximum of 12: 12" in said


async def test_each_leg_closes_its_own_position_and_books_its_own_trade(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    s = services(database, by_account)
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "o1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    by_account["prop"].bid = Decimal("53300.0")
    close = (await send(database, {"action": "RSI_CLOSE_LONG", "price": 53300, "id": "c1"})).signal_id
    assert close is not None
    await run_all(s, [close, close + 1])
    assert [state for *_, state in await legs(database, close)] == [SignalState.EXECUTED, SignalState.EXECUTED]
    async with database.uow(read_only=True) as uow:
        trades = sorted((t.account, t.quantity, t.realized_pnl) for t in await uow.trades.list(bot_id=bot.id))
        on_prop = await uow.trades.realized_since(bot.id, datetime(2000, 1, 1, tzinfo=UTC), account="prop")
    assert trades == [("main", 1, Decimal("-1.0")), ("prop", 2, Decimal("178.0"))]
    assert on_prop == Decimal("178.0")
    assert (await position(database, bot, "main")).is_flat and (await position(database, bot, "prop")).is_flat
    # The Trades page: the bot's two trades together, and each account's apart.
    report = await s.use_cases.queries.trades_report()
    assert report.by_bot == (BotPnl("SA40_RSI_Bot", 2, 1, 1, Decimal("177.0")),)
    assert report.by_account == (
        AccountPnl("main", 1, 0, 1, Decimal("-1.0")),
        AccountPnl("prop", 1, 1, 0, Decimal("178.0")),
    )


async def test_a_database_from_before_legs_migrates_and_trades_on_unchanged(database_url: str) -> None:
    """At 0010 a bot held a position with a stop watched and a trade booked; after the upgrade
    they are its one account's, and a close trades them as before."""
    db = Database(database_url, passphrases=TEST_PASSPHRASES)
    pg = db.is_postgresql

    def at(moment: datetime) -> object:
        return moment if pg else moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    def num(value: str) -> object:
        return Decimal(value) if pg else value

    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(run_upgrade, "0010_sign_in_attempts")
            await conn.commit()
        async with db.engine.connect() as conn:
            yes, no = True, False
            bot_id = (
                await conn.execute(
                    text(
                        "INSERT INTO trading_bots (bot_name, platform, broker_account, symbol, is_active, mode, "
                        "base_position_size, max_positions, allow_pyramiding, exit_on_opposite_signal, "
                        "approval_timeout_minutes, max_signal_age_seconds, order_timeout_seconds, "
                        "webhook_key_hash, webhook_key_hint, paused, needs_attention, created_at, updated_at) "
                        "VALUES ('Old_Bot', 'TradingView', 'Paper', 'SA40', :yes, 'auto', 1, 1, :no, :yes, 15, 300, "
                        "300, :hash, '9a3c', :no, :no, :at, :at) RETURNING id"
                    ),
                    {"yes": yes, "no": no, "at": at(t0), "hash": "h" * 64},
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO strategy_configs (bot_id, strategy_type, timeframe, rsi_length, rsi_overbought, "
                    "rsi_oversold) VALUES (:bot, 'RSI', '4h', 14, :high, :low)"
                ),
                {"bot": bot_id, "high": num("70"), "low": num("30")},
            )
            position_id = (
                await conn.execute(
                    text(
                        "INSERT INTO current_positions (bot_id, symbol, side, quantity, average_price, stop_loss, "
                        "realized_pnl, opened_at, updated_at) VALUES (:bot, 'SA40', 'long', 1, :avg, :stop, :zero, "
                        ":at, :at) RETURNING id"
                    ),
                    {"bot": bot_id, "avg": num("53000"), "stop": num("52000"), "zero": num("0"), "at": at(t0)},
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO position_entries (position_id, seq, fill_id, quantity, price, time) "
                    "VALUES (:pos, 0, 'old-1', 1, :price, :at)"
                ),
                {"pos": position_id, "price": num("53000"), "at": at(t0)},
            )
            await conn.execute(
                text(
                    "INSERT INTO exit_watches (bot_id, symbol, opened_at, attempts, failures, quote_misses, "
                    "quote_reported, updated_at) VALUES (:bot, 'SA40', :at, 0, 0, 1, :no, :at)"
                ),
                {"bot": bot_id, "at": at(t0), "no": no},
            )
            await conn.execute(
                text(
                    "INSERT INTO trade_history (bot_id, bot_name, symbol, side, quantity, entry_price, exit_price, "
                    "realized_pnl, realized_whole, realized_frac, closed_at, position_closed) VALUES (:bot, "
                    "'Old_Bot', 'SA40', 'long', 1, :one, :one, :pnl, -3, 500000000000, :at, :yes)"
                ),
                {"bot": bot_id, "one": num("1"), "pnl": num("-2.5"), "at": at(t0), "yes": yes},
            )
            await conn.execute(
                text(
                    "INSERT INTO realized_by_day (bot_id, day, realized_whole, realized_frac) "
                    "VALUES (:bot, :day, -3, 500000000000)"
                ),
                {"bot": bot_id, "day": at(t0.replace(hour=0))},
            )
            await conn.commit()

        await db.upgrade()

        async with db.uow(read_only=True) as uow:
            bot = await uow.bots.get(bot_id)
            assert bot is not None
            assert (bot.config.broker_account, bot.config.accounts, bot.config.account_names) == (
                "Paper",
                None,
                ("Paper",),
            )
            held = await uow.positions.get(bot_id, "SA40", account="Paper", multiplier=Decimal(1), for_update=False)
            [watch] = await uow.exits.list()
            [trade] = await uow.trades.list()
            since = datetime(2000, 1, 1, tzinfo=UTC)
            realized = await uow.trades.realized_since(bot_id, since)
            realized_on_paper = await uow.trades.realized_since(bot_id, since, account="Paper")
        assert (held.quantity, held.average_price, held.stop_loss, held.account) == (
            1,
            Decimal(53000),
            Decimal(52000),
            "Paper",
        )
        assert (watch.account, watch.quote_misses) == ("Paper", 1)
        assert (trade.account, trade.realized_pnl) == ("Paper", Decimal("-2.5"))
        assert realized == realized_on_paper == Decimal("-2.5")

        # It trades on as before: a close sells the migrated contract on its account.
        broker = FakeBroker(name="Paper", net={"SA40": 1})
        s = bootstrap(db.uow, lambda _name: broker, SystemClock(), lambda _events: None, retry_delay=0.01)
        async with db.uow() as uow:
            signal = Signal(SignalAction.CLOSE, Decimal("53100"), AlertShape.RSI, time=datetime.now(UTC))
            stored = await uow.signals.add(
                bot_id, signal, body_hash="c", state=SignalState.QUEUED, cause="test", at=datetime.now(UTC)
            )
            await uow.commit()
        done = await s.use_cases.steps.advance(stored.id)
        assert done.finished, done
        async with db.uow(read_only=True) as uow:
            closed = await uow.signals.get(stored.id)
        assert closed is not None and closed.state is SignalState.EXECUTED, (closed, done)
        [sold] = broker.book.values()
        assert (sold.side, sold.filled_quantity) == (OrderSide.SELL, 1)
        async with db.uow(read_only=True) as uow:
            after = await uow.positions.get(bot_id, "SA40", account="Paper", multiplier=Decimal(1), for_update=False)
            trades = await uow.trades.list()
        assert after.is_flat
        assert sorted((t.account, t.realized_pnl) for t in trades) == [
            ("Paper", Decimal("-2.5")),
            ("Paper", Decimal(210)),
        ]
    finally:
        await db.dispose()


async def test_while_the_first_accounts_leg_waits_the_lane_moves_the_other_accounts_legs(database: Database) -> None:
    bot = await add_bot(database, **TWO, allow_pyramiding=True, max_positions=3)
    by_account = brokers()
    by_account["main"].faults.down = True
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "w1"})).signal_id
    second = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "w2"})).signal_id
    assert first is not None and second == first + 2
    s = services(database, by_account)
    # One try of the bot's lane: main's first leg waits for its broker, and prop's legs go
    # on, in their order; main's second leg stays behind main's first.
    tried = await s.use_cases.steps.run_next(bot.id, UNFINISHED)
    assert tried is not None and tried[0] == first and tried[1] is not None and not tried[1].finished
    assert [state for *_, state in await legs(database, first)] == [
        SignalState.RECEIVED,
        SignalState.EXECUTED,
        SignalState.RECEIVED,
        SignalState.EXECUTED,
    ]
    assert [o.client_order_id for o in by_account["prop"].book.values()] == [f"sd-{first + 1}-1", f"sd-{first + 3}-1"]
    assert by_account["main"].book == {}
    by_account["main"].faults.down = False
    while (tried := await s.use_cases.steps.run_next(bot.id, UNFINISHED)) is not None:
        assert tried[1] is not None and tried[1].finished
    assert [o.client_order_id for o in by_account["main"].book.values()] == [f"sd-{first}-1", f"sd-{first + 2}-1"]
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        2,
        4,
    )


async def test_an_account_refusing_fails_its_leg_alone_and_the_error_names_the_account(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    by_account["prop"].faults.refuse_next = "INSUFFICIENT_MARGIN"
    events: list[Event] = []
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "m1"})).signal_id
    assert first is not None
    await run_all(services(database, by_account, events), [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED, SignalState.FAILED]
    [failed] = [e for e in events if isinstance(e, ExecutionFailed)]
    assert failed.signal_id == first + 1
    assert failed.reason.startswith(f"account prop: order sd-{first + 1}-1 (open buy 2) was rejected: ")
    assert "INSUFFICIENT_MARGIN" in failed.reason
    # main's leg is not undone.
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        1,
        0,
    )


async def test_a_paused_account_refuses_its_legs_entries_with_the_reason_and_the_halt_keeps_it(
    database: Database,
) -> None:
    bot = await add_bot(database, **TWO, allow_pyramiding=True, max_positions=3)
    by_account = brokers()
    s = services(database, by_account)
    commands = s.use_cases.commands
    assert (await commands.pause_account("PROP", ALICE, "margin call")).ok
    # The halt and its lifting leave the account's pause alone.
    assert (await commands.halt(ALICE, "news")).ok and (await commands.resume_all(ALICE)).ok
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "q1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    async with database.uow(read_only=True) as uow:
        refused = await uow.signals.get(first + 1, history=False)
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED, SignalState.REFUSED]
    assert refused is not None and refused.reason == (
        "account prop is paused (margin call): no new entries on it until /resume-account prop"
    )
    assert by_account["prop"].book == {}
    unknown = await commands.pause_account("demo", ALICE)
    assert (unknown.ok, unknown.message) == (
        False,
        "no bot trades on account 'demo' (the accounts bots trade on: main, prop)",
    )
    assert (await commands.resume_account("prop", ALICE)).ok
    again = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "q2"})).signal_id
    assert again is not None
    await run_all(s, [again, again + 1])
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        2,
        2,
    )


async def test_close_takes_an_account_and_closes_only_that_legs_position(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    s = services(database, by_account)
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "k1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    result = await s.use_cases.commands.close_position(bot.name, ALICE, "Prop")
    assert result.ok and result.signal is not None
    assert result.message == f"closing {bot.name}'s long 2 on prop (signal #{result.signal.id})"
    await s.use_cases.steps.advance(result.signal.id)
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        1,
        0,
    )
    views = await s.use_cases.queries.positions(account="main")
    assert [(v.account, v.quantity) for v in views] == [("main", 1)]
    stranger = await s.use_cases.commands.close_position(bot.name, ALICE, "demo")
    assert (stranger.ok, stranger.message) == (
        False,
        f"bot {bot.name} does not trade on account 'demo' (its accounts: main, prop)",
    )
    everything = await s.use_cases.commands.close_position(bot.name, ALICE)
    assert everything.ok and everything.message.startswith(f"closing {bot.name}'s long 1 on main (signal #")


async def test_the_api_approves_some_accounts_and_the_other_leg_ends_rejected_by_the_approver(
    database: Database,
) -> None:
    await add_bot(database, **TWO, mode="approve")
    by_account = brokers()
    s = services(database, by_account)
    token = "legs-api-token-0123456789"
    client = create_app(make_deps(database, s, api_token=token)).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"action": "RSI_LONG_ENTRY", "price": 53210.5, "time": datetime.now(UTC).isoformat(), "id": "ap1"}
    answered = await client.post(f"/webhook/{KEY}", data=json.dumps(body).encode())
    first = (await answered.get_json())["signal_id"]
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.PENDING_APPROVAL] * 2

    stranger = await client.post(f"/api/signals/{first}/approve", headers=auth, json={"accounts": ["demo"]})
    assert stranger.status_code == 422
    assert (await stranger.get_json())["message"] == f"signal #{first} has no leg on 'demo' (its accounts: main, prop)"

    response = await client.post(f"/api/signals/{first}/approve", headers=auth, json={"accounts": ["prop"]})
    answer = await response.get_json()
    assert response.status_code == 200 and answer["ok"] is True, answer
    assert answer["message"].startswith(f"prop: signal #{first + 1} approved by ")
    assert f"; main: signal #{first} rejected by " in answer["message"]
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.REJECTED, SignalState.EXECUTED]
    async with database.uow(read_only=True) as uow:
        main_leg = await uow.signals.get(first)
        approval = await uow.approvals.get(first)
    assert main_leg is not None and approval is not None
    assert main_leg.reason == "not approved for account main"
    assert approval.decided_by_name and main_leg.history[-1].cause == approval.decided_by
    assert (by_account["main"].place_calls, [o.quantity for o in by_account["prop"].book.values()]) == (0, [2])
    # The API shows each leg's account.
    detail = await (await client.get(f"/api/signals/{first + 1}", headers=auth)).get_json()
    assert detail["account"] == "prop" and detail["state"] == "executed"


async def test_a_mismatch_on_one_account_is_reported_and_repaired_there_only(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    s = services(database, by_account)
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "r1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    assert (by_account["main"].net, by_account["prop"].net) == ({"SA40": 1}, {"SA40": 2})
    by_account["prop"].net["SA40"] = 3  # someone bought one more on prop by hand
    assert await s.use_cases.reconciliation.reconcile() == ["prop SA40: ours +2, broker +3"]
    by_account["main"].net["SA40"] = 2
    both = await s.use_cases.repairs.repair(bot.name, "adopt", ALICE)
    assert (both.ok, both.message) == (
        False,
        f"bot {bot.name} trades on main, prop (they differ on main, prop): name the account to repair",
    )
    by_account["main"].net["SA40"] = 1
    # Unnamed, the one account that differs is repaired (the error channel's Adopt button names none).
    adopted = await s.use_cases.repairs.repair(bot.name, "adopt", ALICE)
    assert adopted.ok and "prop" in adopted.message, adopted.message
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        1,
        3,
    )
    assert await s.use_cases.reconciliation.reconcile() == []


async def test_a_stop_hit_on_one_account_closes_that_legs_position_only(database: Database) -> None:
    bot = await add_bot(database, **TWO)
    by_account = brokers()
    s = services(database, by_account)
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "x1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    by_account["prop"].bid, by_account["prop"].ask = Decimal("52000"), Decimal("52001")  # under prop's stop
    [exit_id] = await s.use_cases.monitors.check_exits()
    async with database.uow(read_only=True) as uow:
        exit_signal = await uow.signals.get(exit_id, history=False)
    assert exit_signal is not None and exit_signal.signal.account == "prop"
    assert (await s.use_cases.steps.advance(exit_id)).finished
    assert ((await position(database, bot, "main")).quantity, (await position(database, bot, "prop")).quantity) == (
        1,
        0,
    )
    assert await s.use_cases.monitors.check_exits() == []  # main's quote is above its stop


async def test_the_second_approver_threshold_applies_to_the_alerts_total_over_its_accounts(
    database: Database,
) -> None:
    # main 1 and prop 2: neither leg is above 2 contracts, the alert's 3 are.
    await add_bot(database, **TWO, mode="approve", second_approval_above=2)
    s = services(database, brokers())
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "t1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    card = await s.use_cases.queries.approval_card(first + 1)
    assert card is not None and (card.account, card.quantity) == ("prop", 2)  # prop's leg as it will trade
    assert card.second_approval_reason == "3 contracts is above second_approval_above (2)"  # the alert's total
    one = await s.use_cases.decisions.approve(first + 1, ALICE)
    assert one.ok and "approved 1 of 2" in one.message
    assert "3 contracts is above second_approval_above (2)" in one.message
    assert [state for *_, state in await legs(database, first)] == [SignalState.PENDING_APPROVAL] * 2
    two = await s.use_cases.decisions.approve(first + 1, BOB)
    assert two.ok and "(2 of 2)" in two.message


async def test_a_bot_trading_an_account_among_several_shares_its_symbol_there(database: Database) -> None:
    both = await add_bot(database, **TWO)
    alone = await add_bot(database, bot_name="Prop_Only", webhook_key="prop_only_key_1234", broker_account="prop")
    elsewhere = await add_bot(database, bot_name="Demo_Only", webhook_key="demo_only_key_1234", broker_account="demo")
    async with database.uow(read_only=True) as uow:
        # Prop_Only's close may not reduce prop's net: SA40_RSI_Bot's leg holds SA40 there too.
        assert await uow.bots.shares_symbol(alone)
        assert await uow.bots.shares_symbol(on_account(both, "prop"))
        assert not await uow.bots.shares_symbol(on_account(both, "main"))
        assert not await uow.bots.shares_symbol(elsewhere)


async def approver_at_a_card(
    db: Database,
) -> tuple[dict[str, FakeBroker], Services, int, Any]:
    """An approve-mode bot on main and prop, an alert's two legs waiting on its card, and
    anna (an approver) signed in to the web desk: (brokers, services, the first leg, anna)."""
    await add_bot(db, **TWO, mode="approve")
    by_account = brokers()
    s = services(db, by_account)
    deps = make_deps(db, s)
    assert deps.people is not None
    desk = WebDesk(db, create_app(deps), s, deps.people)
    first = await desk.pending_signal()
    await s.use_cases.steps.advance(first + 1)
    await desk.add("anna", Role.APPROVER)
    anna = desk.browser()
    assert (await anna.login("anna")).status_code == 303
    return by_account, s, first, anna


async def test_on_the_web_desk_an_approver_ticks_some_accounts(sqlite_database: Database) -> None:
    by_account, s, first, anna = await approver_at_a_card(sqlite_database)
    html = (await (await anna.get("/approvals")).get_data()).decode()
    for account in ("main", "prop"):
        assert f'<input type="checkbox" name="accounts" value="{account}" checked> {account}' in html
    none = await anna.post(f"/approvals/{first}/approve", form={"legs": "1"}, headers={"X-Part": "1"})
    assert none.status_code == 422 and "tick at least one account" in (await none.get_data()).decode()
    some = await anna.post(
        f"/approvals/{first}/approve", form={"legs": "1", "accounts": "prop"}, headers={"X-Part": "1"}
    )
    assert some.status_code == 200, (await some.get_data()).decode()
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(sqlite_database, first)] == [SignalState.REJECTED, SignalState.EXECUTED]
    async with sqlite_database.uow(read_only=True) as uow:
        approval = await uow.approvals.get(first)
    assert approval is not None and approval.decided_by_name == "anna"
    assert by_account["main"].place_calls == 0 and by_account["prop"].place_calls == 1
