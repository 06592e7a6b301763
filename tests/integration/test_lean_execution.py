"""What an execution costs the database: statements counted, as the live-feed test counts
reads, on both databases; the events stored in the transaction of their change; the stop
monitor reading nothing when it has nothing to watch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from db.database import Database
from db.uow import READ_ONLY
from tests.support.service_rig import make_rig
from trading.domain.events import Notice, OrderFilled, OrderPlaced, StopMoved
from trading.domain.signals import SignalAction, SignalState


@dataclass
class Tally:
    """Every statement run, each marked with the kind of transaction it ran in."""

    statements: list[tuple[str, str]] = field(default_factory=list)  # ("ro" | "rw", sql)
    transactions: list[str] = field(default_factory=list)  # "ro" | "rw", in the order they began

    def of(self, kind: str) -> list[str]:
        return [sql for k, sql in self.statements if k == kind]


def _kind(conn: Any) -> str:
    return "ro" if conn.get_execution_options().get(READ_ONLY) else "rw"


@contextmanager
def tally(db: Database) -> Iterator[Tally]:
    seen = Tally()

    def on_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if text.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            return  # SQLite's BEGIN goes through the cursor; PostgreSQL's does not: counted below
        seen.statements.append((_kind(conn), text))

    def on_begin(conn: Any) -> None:
        seen.transactions.append(_kind(conn))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "begin", on_begin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "begin", on_begin)


async def test_an_executed_market_entry_with_a_stop_and_a_target_is_at_most_12_statements_in_2_write_transactions(
    database: Database,
) -> None:
    rig = make_rig(database)
    bot = await rig.bot(stop_loss_pct="1.5", take_profit_pct="3.0")
    # A round trip first: the instrument is known and the bot's position row exists, as on
    # any desk that has traded before.
    for action in (SignalAction.ENTER_LONG, SignalAction.CLOSE_LONG):
        assert await rig.run(await rig.signal(bot, action)) is SignalState.EXECUTED
    entry = await rig.signal(bot, SignalAction.ENTER_LONG)
    rig.events.clear()

    with tally(database) as seen:
        result = await rig.use_cases.steps.advance(entry)

    assert result.finished
    assert await rig.state(entry) is SignalState.EXECUTED
    position = await rig.position(bot)
    assert position.quantity == 1 and position.stop_loss is not None and position.take_profit is not None
    writes, reads = seen.of("rw"), seen.of("ro")
    assert seen.transactions.count("rw") <= 2, seen.transactions
    assert len(writes) <= 12, "\n".join(writes)
    # Reads happen outside the write transactions.
    assert not [sql for sql in writes if sql.upper().startswith("SELECT")], writes
    assert all(sql.upper().startswith("SELECT") for sql in reads), reads
    # The events went into the write transactions (one statement for all of a transaction's).
    event_writes = [sql for sql in writes if sql.upper().startswith("INSERT INTO EVENTS")]
    assert len(event_writes) == 1, writes
    kinds = [type(e) for e in rig.events]
    assert kinds == [OrderPlaced, OrderFilled, StopMoved], kinds
    assert all(e.seq is not None for e in rig.events)
    assert [e.seq for e in rig.events] == sorted(e.seq for e in rig.events if e.seq is not None)
    print(
        f"\nexecuted entry: {len(writes)} statements in {seen.transactions.count('rw')} write transactions, "
        f"{len(reads)} reads in {seen.transactions.count('ro')} read-only ones"
    )


async def test_the_runners_lane_reads_a_signal_and_what_its_start_needs_in_one_read(database: Database) -> None:
    rig = make_rig(database)
    bot = await rig.bot(stop_loss_pct="1.5", take_profit_pct="3.0")
    for action in (SignalAction.ENTER_LONG, SignalAction.CLOSE_LONG):
        assert await rig.run(await rig.signal(bot, action)) is SignalState.EXECUTED
    entry = await rig.signal(bot, SignalAction.ENTER_LONG)

    with tally(database) as seen:
        tried = await rig.use_cases.steps.run_next(bot, [SignalState.RECEIVED])
    assert tried is not None
    signal_id, result = tried
    assert signal_id == entry and result is not None and result.finished

    assert await rig.state(entry) is SignalState.EXECUTED
    assert seen.transactions == ["ro", "rw", "rw"], seen.transactions
    assert len(seen.of("rw")) <= 12


def _notice(n: int) -> Notice:
    return Notice(at=datetime(2026, 12, 1, 12, 0, n, tzinfo=UTC), bot_name="b", signal_id=n, message=f"n{n}")


async def test_events_are_stored_with_the_change_that_commits_and_never_for_one_that_rolls_back(
    database: Database,
) -> None:
    async with database.uow() as uow:
        uow.emit([_notice(1), _notice(2)])
        # left without commit: rolled back
    assert uow.emitted == []
    async with database.uow() as uow:
        uow.emit([_notice(3), _notice(4), _notice(5)])
        await uow.commit()
    assert [e.signal_id for e in uow.emitted] == [3, 4, 5]
    seqs = [e.seq for e in uow.emitted]
    async with database.uow(read_only=True) as reader:
        stored = await reader.events.after(0, 10)
    assert [(e.seq, e.signal_id) for e in stored] == list(zip(seqs, [3, 4, 5], strict=True))


async def test_a_read_only_unit_cannot_emit(database: Database) -> None:
    async with database.uow(read_only=True) as uow:
        with pytest.raises(RuntimeError, match="read-only"):
            uow.emit([_notice(1)])


async def test_the_stop_monitor_reads_nothing_when_nothing_is_watched_and_again_after_a_change(
    database: Database,
) -> None:
    rig = make_rig(database)
    bot = await rig.bot(stop_loss_pct="1.5")
    assert await rig.use_cases.monitors.check_exits() == []  # loads once
    with tally(database) as idle:
        for _ in range(3):
            assert await rig.use_cases.monitors.check_exits() == []
    assert idle.statements == [] and idle.transactions == []

    # An entry with a stop: the monitor hears of it and watches it from the next pass on.
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    stop = (await rig.position(bot)).stop_loss
    assert stop is not None
    assert await rig.use_cases.monitors.check_exits() == []  # reads the change once; the quote is above the stop
    with tally(database) as watching:
        assert await rig.use_cases.monitors.check_exits() == []
    assert watching.statements == []  # the quote is the broker's, the watch is in memory
    rig.broker.bid, rig.broker.ask = stop - 10, stop - 9
    (made,) = await rig.use_cases.monitors.check_exits()
    assert await rig.run(made) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat


async def test_the_approval_check_reads_nothing_until_a_card_falls_due(database: Database) -> None:
    rig = make_rig(database)
    bot = await rig.bot(mode="approve", approval_timeout_minutes=10)
    assert await rig.use_cases.decisions.run_due() == []  # reads once: nothing pending
    with tally(database) as idle:
        assert await rig.use_cases.decisions.run_due() == []
    assert idle.statements == []

    signal = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(signal) is SignalState.PENDING_APPROVAL  # a card: read at the next check
    assert await rig.use_cases.decisions.run_due() == []
    with tally(database) as waiting:
        assert await rig.use_cases.decisions.run_due() == []  # the card is not due yet: nothing read
    assert waiting.statements == []
    rig.clock.t += timedelta(minutes=11)
    assert await rig.use_cases.decisions.run_due() == [signal]
    assert await rig.state(signal) is SignalState.EXPIRED


async def test_the_sweep_is_one_query(database: Database) -> None:
    rig = make_rig(database)
    runner = rig.runner
    with tally(database) as seen:
        await runner.sweep()
    assert len(seen.statements) == 1 and seen.transactions == ["ro"], seen.statements
