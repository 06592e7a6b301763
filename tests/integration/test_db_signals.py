"""Signals with their history, duplicates, and first-wins approvals."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text

from db.database import Database
from db.errors import NotFound
from tests.integration.db_support import T0, add_bot, bot_config, full_signal
from trading.domain.records import Decision, SignalEdits, StateChange
from trading.domain.signals import IllegalSignalTransition, Signal, SignalState
from trading.domain.values import OrderType
from trading.services.transitions import set_signal_state


async def _add(db: Database, bot_id: int, signal: Signal, body_hash: str = "h1", at=T0) -> int:  # type: ignore[no-untyped-def]
    async with db.uow() as uow:
        stored = await uow.signals.add(
            bot_id, signal, body_hash=body_hash, state=SignalState.RECEIVED, cause="webhook", at=at
        )
        await uow.commit()
    return stored.id


async def test_a_signal_round_trips_whole_but_its_passphrase(database: Database) -> None:
    bot = await add_bot(database)
    signal = full_signal()
    async with database.uow() as uow:
        added = await uow.signals.add(
            bot.id, signal, body_hash="abc", state=SignalState.RECEIVED, cause="webhook", at=T0
        )
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.signals.get(added.id)
    assert got == added
    assert got.signal == dataclasses.replace(signal, passphrase=None)
    assert got.signal.price == Decimal("53211.123456789012")
    assert got.bot_name == "SA40_RSI_Bot"
    assert got.created_at == T0 and got.created_at.tzinfo is not None
    assert got.history == (StateChange(SignalState.RECEIVED, T0, "webhook"),)
    async with database.engine.connect() as conn:
        raw = repr((await conn.execute(text("SELECT * FROM signals"))).all())
    assert "hunter2" not in raw


async def test_state_changes_are_checked_and_recorded(database: Database) -> None:
    bot = await add_bot(database)
    signal_id = await _add(database, bot.id, full_signal())
    async with database.uow() as uow:
        await set_signal_state(
            uow, signal_id, SignalState.PENDING_APPROVAL, cause="engine", at=T0 + timedelta(seconds=1)
        )
        await set_signal_state(
            uow, signal_id, SignalState.APPROVED, cause="discord:42 (ann)", at=T0 + timedelta(seconds=5)
        )
        await uow.commit()
    async with database.uow() as uow:
        with pytest.raises(IllegalSignalTransition, match="from approved to executed"):
            await set_signal_state(uow, signal_id, SignalState.EXECUTED, cause="engine", at=T0)
        await set_signal_state(
            uow, signal_id, SignalState.REFUSED, cause="risk", at=T0 + timedelta(seconds=6), reason="slippage 0.9%"
        )
        stored = await uow.signals.get(signal_id)
        await uow.commit()
    assert stored is not None
    assert stored.state is SignalState.REFUSED
    assert stored.reason == "slippage 0.9%"
    assert stored.updated_at == T0 + timedelta(seconds=6)
    assert [(c.state, c.cause, c.reason) for c in stored.history] == [
        (SignalState.RECEIVED, "webhook", None),
        (SignalState.PENDING_APPROVAL, "engine", None),
        (SignalState.APPROVED, "discord:42 (ann)", None),
        (SignalState.REFUSED, "risk", "slippage 0.9%"),
    ]
    async with database.uow() as uow:
        with pytest.raises(NotFound, match="signal 999"):
            await set_signal_state(uow, 999, SignalState.QUEUED, cause="engine", at=T0)


async def test_find_duplicate_by_alert_id_ever_and_body_hash_in_window(database: Database) -> None:
    bot = await add_bot(database)
    other = await add_bot(database, "Other", webhook_key="other_key_1234")
    first = await _add(database, bot.id, full_signal(1), body_hash="body-1", at=T0)
    async with database.uow() as uow:
        find = uow.signals.find_duplicate
        assert await find(bot.id, alert_id="alert-1", body_hash="zzz", since=T0 + timedelta(days=9)) == first
        assert await find(other.id, alert_id="alert-1", body_hash="body-1", since=T0) is None
        assert await find(bot.id, alert_id=None, body_hash="body-1", since=T0) == first
        assert await find(bot.id, alert_id=None, body_hash="body-1", since=T0 + timedelta(microseconds=1)) is None
        assert await find(bot.id, alert_id="alert-2", body_hash="body-2", since=T0) is None


async def test_list_and_ids_in_states(database: Database) -> None:
    bot = await add_bot(database)
    other = await add_bot(database, "Other", webhook_key="other_key_1234")
    ids = [await _add(database, bot.id, full_signal(n)) for n in range(3)]
    other_id = await _add(database, other.id, full_signal(9))
    async with database.uow() as uow:
        await set_signal_state(uow, ids[1], SignalState.QUEUED, cause="engine", at=T0)
        await set_signal_state(uow, ids[1], SignalState.EXECUTING, cause="engine", at=T0)
        await uow.commit()
    async with database.uow() as uow:
        assert [s.id for s in await uow.signals.list()] == [other_id, *reversed(ids)]
        assert [s.id for s in await uow.signals.list(bot_id=bot.id, limit=2)] == [ids[2], ids[1]]
        executing = await uow.signals.list(state=SignalState.EXECUTING)
        assert [s.id for s in executing] == [ids[1]]
        assert len(executing[0].history) == 3
        assert await uow.signals.ids_in_states([SignalState.EXECUTING, SignalState.QUEUED]) == [ids[1]]
        assert await uow.signals.ids_in_states([SignalState.RECEIVED]) == [ids[0], ids[2], other_id]
        assert await uow.signals.ids_in_states([SignalState.RECEIVED], bot_id=bot.id) == [ids[0], ids[2]]
        assert await uow.signals.ids_in_states([SignalState.RECEIVED, SignalState.EXECUTING], bot_id=other.id) == [
            other_id
        ]


async def test_the_lookups_on_the_way_to_an_order_search_indexes_on_sqlite(sqlite_database: Database) -> None:
    """History costs nothing: the dedupe and the runner's look-ups never scan the signals."""
    bot = await add_bot(sqlite_database)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM signals" in statement:
            seen.append((statement, parameters))

    async with sqlite_database.uow(read_only=True) as uow:
        event.listen(sqlite_database.engine.sync_engine, "before_cursor_execute", record)
        try:
            await uow.signals.find_duplicate(bot.id, alert_id="a-1", body_hash="h", since=T0)
            await uow.signals.find_duplicate(bot.id, alert_id=None, body_hash="h", since=T0)
            await uow.signals.ids_in_states([SignalState.RECEIVED, SignalState.QUEUED])
            await uow.signals.ids_in_states([SignalState.RECEIVED, SignalState.QUEUED], bot_id=bot.id)
        finally:
            event.remove(sqlite_database.engine.sync_engine, "before_cursor_execute", record)
        conn = await uow.session()
        plans = [
            " | ".join(str(row[-1]) for row in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all())
            for sql, params in seen
        ]
    assert len(plans) == 4
    for plan in plans:
        searches = [step for step in plan.split(" | ") if "signals" in step and "anon" not in step]
        assert searches and all(step.startswith("SEARCH signals USING COVERING INDEX") for step in searches), plan


async def test_signal_for_a_missing_bot_is_refused_clearly(database: Database) -> None:
    async with database.uow() as uow:
        with pytest.raises(NotFound, match="bot 77 does not exist"):
            await uow.signals.add(77, full_signal(), body_hash="x", state=SignalState.RECEIVED, cause="t", at=T0)


async def test_edits(database: Database) -> None:
    bot = await add_bot(database)
    signal_id = await _add(database, bot.id, full_signal())
    edits = SignalEdits(quantity=2, order_type=OrderType.LIMIT, limit_price=Decimal("53100.5"), stop_loss=Decimal(1))
    async with database.uow() as uow:
        await uow.signals.set_edits(signal_id, edits)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.signals.get(signal_id)
    assert got is not None and got.edits == edits


async def test_approval_lifecycle(database: Database) -> None:
    bot = await add_bot(database)
    signal_id = await _add(database, bot.id, full_signal())
    expires = T0 + timedelta(minutes=15)
    async with database.uow() as uow:
        created = await uow.approvals.create(signal_id, T0, expires)
        await uow.approvals.set_message(signal_id, channel_id=1234567890123456789, message_id=987654321098765432)
        await uow.approvals.set_edits(signal_id, SignalEdits(quantity=3), edited_by="discord:42 (ann)")
        await uow.commit()
    assert created.decision is None
    async with database.uow() as uow:
        assert [a.signal_id for a in await uow.approvals.list_pending()] == [signal_id]
        assert await uow.approvals.decide(signal_id, Decision.APPROVED, "discord:42 (ann)", T0 + timedelta(minutes=1))
        assert not await uow.approvals.decide(
            signal_id, Decision.REJECTED, "discord:7 (bob)", T0 + timedelta(minutes=2)
        )
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.approvals.get(signal_id)
        assert await uow.approvals.list_pending() == []
        with pytest.raises(NotFound, match="no approval for signal 999"):
            await uow.approvals.decide(999, Decision.APPROVED, "x", T0)
    assert got is not None
    assert (got.channel_id, got.message_id) == (1234567890123456789, 987654321098765432)
    assert (got.decision, got.decided_by, got.decided_at) == (
        Decision.APPROVED,
        "discord:42 (ann)",
        T0 + timedelta(minutes=1),
    )
    assert (got.edits, got.edited_by) == (SignalEdits(quantity=3), "discord:42 (ann)")


async def test_concurrent_decisions_first_wins(database: Database) -> None:
    bot = await add_bot(database)
    signal_id = await _add(database, bot.id, full_signal())
    async with database.uow() as uow:
        await uow.approvals.create(signal_id, T0, T0 + timedelta(minutes=15))
        await uow.commit()

    async def decide(who: str, decision: Decision) -> bool:
        async with database.uow() as uow:
            won = await uow.approvals.decide(signal_id, decision, who, T0)
            await asyncio.sleep(0.01)  # hold the transaction open while the others try
            await uow.commit()
            return won

    outcomes = await asyncio.gather(
        *(decide(f"user{i}", Decision.APPROVED if i % 2 else Decision.REJECTED) for i in range(8))
    )
    assert outcomes.count(True) == 1
    winner = f"user{outcomes.index(True)}"
    async with database.uow() as uow:
        got = await uow.approvals.get(signal_id)
    assert got is not None and got.decided_by == winner


async def test_bot_name_of_a_rolled_back_bot_is_not_remembered(database: Database) -> None:
    async with database.uow() as uow:
        ghost = await uow.bots.upsert(bot_config("Ghost", webhook_key="ghost_key_1234"))
        await uow.signals.add(ghost.id, full_signal(), body_hash="g", state=SignalState.RECEIVED, cause="t", at=T0)
        await uow.rollback()
    real = await add_bot(database, "Real", webhook_key="real_key_1234")  # SQLite may reuse the id
    signal_id = await _add(database, real.id, full_signal())
    async with database.uow() as uow:
        got = await uow.signals.get(signal_id)
        added = await uow.signals.add(
            real.id, full_signal(2), body_hash="r", state=SignalState.RECEIVED, cause="t", at=T0
        )
    assert got is not None and got.bot_name == "Real"
    assert added.bot_name == "Real"
