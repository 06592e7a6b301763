"""Prebuilt statements run directly on SQLite (db/prepared.py) give what SQLAlchemy gives:
the same rows and conversions, the same errors, and the statements they cannot run go
through SQLAlchemy instead."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound, StatementError

from db.database import Database
from db.models import ApprovalRow, ControlRow, CurrentPositionRow, PaperAccountRow, PaperPositionRow, TradeRow
from db.prepared import prebuilt
from db.uow import SqlUnitOfWork
from tests.integration.test_service import make_rig

TRADES = TradeRow.__table__
CONTROL = ControlRow.__table__
APPROVALS = ApprovalRow.__table__
PAPER_POSITIONS = PaperPositionRow.__table__
POSITIONS = CurrentPositionRow.__table__

_ADD_TRADE = prebuilt(insert(TRADES).returning(TRADES.c.id))
_TRADES_OF = prebuilt(
    select(TRADES).where(TRADES.c.bot_id.in_(bindparam("bots", expanding=True))).order_by(TRADES.c.id)
)
_FIRST_TRADE = prebuilt(select(TRADES.c.id).order_by(TRADES.c.id).limit(1))
_CONTROL = prebuilt(select(CONTROL).where(CONTROL.c.id == 1))
_ADD_PAPER_POSITION = prebuilt(insert(PAPER_POSITIONS))
_ADD_POSITION = prebuilt(insert(POSITIONS))


@pytest.fixture
async def seeded(sqlite_database: Database) -> Database:
    """With bots 1-3 and paper account P1, for the foreign keys."""
    rig = make_rig(sqlite_database)
    for n in (1, 2, 3):
        assert await rig.bot(bot_name=f"Bot{n}", webhook_key=f"prepared_test_key_{n}") == n
    async with sqlite_database.uow() as uow:
        conn = await uow.session()
        await conn.execute(
            insert(PaperAccountRow.__table__).values(account_id="P1", currency="ZAR", balance=Decimal(0))
        )
        await uow.commit()
    return sqlite_database


NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def _trade(bot_id: int, n: int) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "bot_name": f"bot{bot_id}",
        "symbol": "SA40",
        "side": "long",
        "quantity": n,
        "entry_price": Decimal("53210.5"),
        "exit_price": Decimal("53300.000000000001"),
        "realized_pnl": Decimal("-89.5"),
        "opened_at": datetime(2026, 11, 21, 8, 0, 1, 123456, tzinfo=UTC),
        "closed_at": datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        "position_closed": n % 2 == 0,
        "signal_id": None,
        "client_order_id": f"sd-{n}-1",
    }


async def _both_ways(uow: SqlUnitOfWork, stmt: Any, params: Any = None) -> tuple[Any, Any]:
    """The statement's rows run prepared, and run through SQLAlchemy."""
    conn = await uow.session()
    return (await uow.execute(stmt, params)).all(), (await conn.execute(stmt, params)).all()


async def test_rows_and_conversions_match_sqlalchemys(seeded: Database) -> None:
    async with seeded.uow() as uow:
        ids = [(await uow.execute(_ADD_TRADE, _trade(bot, n))).scalar_one() for n, bot in enumerate([1, 2, 1, 3])]
        assert ids == [1, 2, 3, 4]
        prepared, through_sqlalchemy = await _both_ways(uow, _TRADES_OF, {"bots": [1, 3]})
        assert [tuple(r) for r in prepared] == [tuple(r) for r in through_sqlalchemy]
        first = prepared[0]
        # Exact decimals, timezone-aware times and booleans, as SQLAlchemy's types make them.
        assert first.exit_price == Decimal("53300.000000000001")
        assert first.opened_at == datetime(2026, 11, 21, 8, 0, 1, 123456, tzinfo=UTC)
        assert first.position_closed is True
        assert first._mapping["client_order_id"] == "sd-0-1" == first[-1]
        # IN lists of other lengths get their own SQL; the one-element list too.
        assert [r.id for r in (await uow.execute(_TRADES_OF, {"bots": [1]})).all()] == [1, 3]
        assert [r.id for r in (await uow.execute(_TRADES_OF, {"bots": [3, 2, 1]})).all()] == ids
        # An empty IN list is SQLAlchemy's (it renders one specially).
        assert (await uow.execute(_TRADES_OF, {"bots": []})).all() == []


async def test_values_the_statement_holds_are_bound(seeded: Database) -> None:
    async with seeded.uow() as uow:
        assert (await uow.execute(_FIRST_TRADE)).scalar_one_or_none() is None
        for n in range(3):
            await uow.execute(_ADD_TRADE, _trade(3, n))
        assert (await uow.execute(_FIRST_TRADE)).all() == [(1,)]  # .limit(1)
        prepared, through_sqlalchemy = await _both_ways(uow, _CONTROL)  # CONTROL.c.id == 1
        assert prepared == through_sqlalchemy
        await uow.rollback()


async def test_result_api_matches(seeded: Database) -> None:
    async with seeded.uow() as uow:
        with pytest.raises(NoResultFound):
            (await uow.execute(_FIRST_TRADE)).scalar_one()
        await uow.execute(_ADD_TRADE, _trade(1, 1))
        await uow.execute(_ADD_TRADE, _trade(1, 2))
        result = await uow.execute(_TRADES_OF, {"bots": [1]})
        assert [t for t in result.scalars()] == [1, 2]
        with pytest.raises(MultipleResultsFound):
            (await uow.execute(_TRADES_OF, {"bots": [1]})).scalar_one_or_none()
        assert (await uow.execute(_TRADES_OF, {"bots": [1]})).first().quantity == 1
        await uow.rollback()


async def test_executemany_and_rowcount(seeded: Database) -> None:
    rows = [{"account_id": "P1", "symbol": f"S{n}", "quantity": n, "average_price": Decimal(n)} for n in range(5)]
    async with seeded.uow() as uow:
        assert (await uow.execute(_ADD_PAPER_POSITION, rows)).rowcount == 5
        await uow.commit()
    async with seeded.uow() as uow:
        account = await uow.paper.load("P1")
    assert account is not None
    assert account.positions == {f"S{n}": (n, Decimal(n)) for n in range(5)}


async def test_a_database_error_is_sqlalchemys_and_names_the_statement(seeded: Database) -> None:
    async with seeded.uow() as uow:
        row = {"account_id": "P1", "symbol": "SA40", "quantity": 1, "average_price": Decimal(1)}
        await uow.execute(_ADD_PAPER_POSITION, row)
        with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed.*\n\[SQL: INSERT INTO paper_positions"):
            await uow.execute(_ADD_PAPER_POSITION, row)
        # A value its column's type refuses: the type's message, with the statement, as SQLAlchemy raises it.
        with pytest.raises(StatementError, match=r"expected a Decimal.*\n\[SQL: INSERT INTO paper_positions"):
            await uow.execute(_ADD_PAPER_POSITION, row | {"symbol": "X", "average_price": 1})


async def test_statements_not_prebuilt_or_not_preparable_go_through_sqlalchemy(seeded: Database) -> None:
    seen: list[object] = []  # SQLAlchemy's execution context of each statement (None: prepared)
    event.listen(seeded.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[4]))
    decide = update(APPROVALS).where(APPROVALS.c.signal_id == 1).values(decided_by="x")  # built per call
    assert seeded.prepared is not None
    kept = len(seeded.prepared._cache)
    async with seeded.uow() as uow:
        await uow.execute(decide)
        await uow.execute(decide)
        assert len(seeded.prepared._cache) == kept  # nothing compiled and kept for it
        # A Python-side default (positions' quantity) is computed by SQLAlchemy at execution.
        await uow.execute(_ADD_POSITION, {"bot_id": 1, "symbol": "SA40", "realized_pnl": Decimal(0), "updated_at": NOW})
        conn = await uow.session()
        assert (await conn.execute(select(POSITIONS.c.quantity))).scalar_one() == 0
        await uow.execute(_CONTROL)
    assert [context is None for context in seen] == [False, False, False, False, True]
