"""Migrations, the models-vs-migrations check, connection settings, unit-of-work rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from db.database import Database, DatabaseUrlError
from db.migrate import run_upgrade
from db.models import Base, ControlRow
from db.uow import UnitOfWorkClosed
from tests.integration.db_support import T0
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.market import Instrument
from trading.domain.records import ControlState


def _diff(conn: sa.Connection, metadata: sa.MetaData) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_from_empty_match_the_models(database_url: str) -> None:
    db = Database(database_url, passphrases=TEST_PASSPHRASES)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff, Base.metadata) == []
    finally:
        await db.dispose()


async def test_the_comparison_sees_a_difference(database: Database) -> None:
    # Guards the test above against comparing nothing.
    changed = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    sa.Table("signals", changed, sa.Column("extra_column", sa.Integer()), extend_existing=True)
    changed.tables["orders"].c.applied_cost.type = sa.Integer()
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(_diff, changed)
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in diff}  # type: ignore[index]
    assert "add_column" in kinds
    assert "modify_type" in kinds


async def test_upgrade_is_idempotent_and_records_head(database: Database) -> None:
    await database.upgrade()
    async with database.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == "0015_exchange_exits"


async def test_sqlite_connection_settings(sqlite_database: Database) -> None:
    async with sqlite_database.engine.connect() as conn:
        pragmas = {
            p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar_one()
            for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 5000}


async def test_leaving_without_commit_rolls_back(database: Database) -> None:
    async with database.uow() as uow:
        await uow.control.set(ControlState(halted=True, halted_by="cli", halted_at=T0, reason="test"))
    async with database.uow() as uow:
        assert await uow.control.get() == ControlState()
        await uow.control.set(ControlState(halted=True, halted_by="cli", halted_at=T0, reason="test"))
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.control.get() == ControlState(halted=True, halted_by="cli", halted_at=T0, reason="test")


async def test_an_error_inside_rolls_back(database: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with database.uow() as uow:
            await uow.control.set(ControlState(halted=True))
            raise RuntimeError("boom")
    async with database.engine.connect() as conn:
        assert (await conn.execute(select(ControlRow.__table__))).all() == []


async def test_rollback_then_more_work_in_the_same_unit(database: Database) -> None:
    async with database.uow() as uow:
        await uow.control.set(ControlState(halted=True))
        await uow.rollback()
        assert await uow.control.get() == ControlState()
        await uow.control.set(ControlState(halted=True, reason="second"))
        await uow.commit()
    async with database.uow() as uow:
        assert (await uow.control.get()).reason == "second"


async def test_every_way_out_of_a_unit_returns_its_connection_and_locks(database: Database) -> None:
    async with database.uow() as uow:  # committed
        await uow.control.set(ControlState(halted=True))
        await uow.commit()
    async with database.uow() as uow:  # left without committing
        await uow.control.set(ControlState(halted=False))
    with pytest.raises(RuntimeError, match="boom"):
        async with database.uow() as uow:  # an error inside
            await uow.control.get()
            raise RuntimeError("boom")
    async with database.uow() as uow:  # committed twice over, with a read between
        await uow.control.get()
        await uow.commit()
        await uow.control.get()
        await uow.commit()
    assert database.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert database.write_lock is None or not database.write_lock.locked()
    async with database.uow() as uow:
        assert (await uow.control.get()).halted  # only the committed change stayed


async def test_repositories_refuse_use_outside_the_block(sqlite_database: Database) -> None:
    uow = sqlite_database.uow()
    with pytest.raises(UnitOfWorkClosed, match="async with"):
        await uow.control.get()


async def test_ping(database: Database) -> None:
    await database.ping()


async def test_ping_fails_on_an_unreachable_server() -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(OSError):
            await db.ping()
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql+aiomysql://u:secret@h/db", "unsupported database 'mysql'"),
        ("sqlite:///x.db", "needs the async driver 'aiosqlite'"),
        ("postgresql://u:secret@h/db", "needs the async driver 'asyncpg'"),
    ],
)
def test_bad_database_urls_are_named_without_the_password(url: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError, match=message) as caught:
        Database(url, passphrases=TEST_PASSPHRASES)
    assert "secret" not in str(caught.value)


async def test_upgrade_from_0001_splits_existing_trades_pnl_exactly(database_url: str) -> None:
    db = Database(database_url, passphrases=TEST_PASSPHRASES)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(run_upgrade, "0001_initial")
            await conn.commit()
        # A bot as 0001 stored one (later revisions add columns to the table).
        add = text(
            "INSERT INTO trading_bots (bot_name, platform, broker_account, symbol, is_active, mode, "
            "base_position_size, max_positions, allow_pyramiding, exit_on_opposite_signal, "
            "approval_timeout_minutes, max_signal_age_seconds, webhook_key_hash, webhook_key_hint, paused, "
            "needs_attention, created_at, updated_at) VALUES ('SA40_RSI_Bot', 'TradingView', 'Paper', 'SA40', "
            ":yes, 'auto', 1, 1, :no, :yes, 15, 300, 'hash', '9a3c', :no, :no, :at, :at) RETURNING id"
        )
        at0: object = T0 if db.is_postgresql else T0.strftime("%Y-%m-%d %H:%M:%S.%f")
        async with db.engine.connect() as conn:
            bot_id = (await conn.execute(add, {"yes": True, "no": False, "at": at0})).scalar_one()
            strategy = text(
                "INSERT INTO strategy_configs (bot_id, strategy_type, timeframe, rsi_length, rsi_overbought, "
                "rsi_oversold) VALUES (:bot, 'RSI', '4h', 14, :high, :low)"
            )
            high, low = (Decimal(70), Decimal(30)) if db.is_postgresql else ("70", "30")
            await conn.execute(strategy, {"bot": bot_id, "high": high, "low": low})
            await conn.commit()
        insert = text(
            "INSERT INTO trade_history (bot_id, bot_name, symbol, side, quantity, entry_price, exit_price, "
            "realized_pnl, closed_at, position_closed) VALUES (:bot, 'x', 'SA40', 'long', 1, :one, :one, :pnl, :at, "
            ":closed)"
        )
        async with db.engine.connect() as conn:
            for n, pnl in enumerate(("0.1", "0.2", "-1000.05")):
                at = T0 + timedelta(minutes=n + 1)
                # As the 0001 columns hold them: SQLite text, PostgreSQL numeric and timestamptz.
                text_at = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                params = {"bot": bot_id, "one": "1.000000000000", "pnl": pnl, "at": text_at, "closed": True}
                if db.is_postgresql:
                    params |= {"one": Decimal(1), "pnl": Decimal(pnl), "at": at}
                await conn.execute(insert, params)
            await conn.commit()

        await db.upgrade()

        async with db.uow(read_only=True) as uow:
            assert await uow.trades.realized_since(bot_id, T0) == Decimal("-999.75")
            assert await uow.trades.realized_since(bot_id, T0 + timedelta(minutes=3)) == Decimal("-1000.05")
            # From midnight: the daily total the migration built.
            assert await uow.trades.realized_since(bot_id, T0.replace(hour=0)) == Decimal("-999.75")
            # The bot reads back through every later revision, with the columns they added empty.
            bot = await uow.bots.get(bot_id)
            assert bot is not None and bot.config.risk_per_trade_pct is None
    finally:
        await db.dispose()


async def test_upgrade_to_0014_keeps_every_position_and_quantity_and_then_takes_fractions(database_url: str) -> None:
    # SQLite copies the tables whose column type changes; the copy of trading_bots and
    # current_positions must not cascade away their children (positions, entries, trades).
    db = Database(database_url, passphrases=TEST_PASSPHRASES)
    pg = db.is_postgresql
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(run_upgrade, "0013_candles_ledger")
            await conn.commit()
        at: object = T0 if pg else T0.strftime("%Y-%m-%d %H:%M:%S.%f")
        price: object = Decimal(100) if pg else "100.000000000000"
        async with db.engine.connect() as conn:
            bot_id = (
                await conn.execute(
                    text(
                        "INSERT INTO trading_bots (bot_name, platform, broker_account, symbol, is_active, mode, "
                        "base_position_size, max_positions, allow_pyramiding, exit_on_opposite_signal, "
                        "approval_timeout_minutes, max_signal_age_seconds, webhook_key_hash, webhook_key_hint, paused, "
                        "needs_attention, created_at, updated_at) VALUES ('SA40_RSI_Bot', 'TradingView', 'Paper', "
                        "'SA40', :yes, 'auto', 2, 3, :yes, :yes, 15, 300, 'hash', '9a3c', :no, :no, :at, :at) "
                        "RETURNING id"
                    ),
                    {"yes": True, "no": False, "at": at},
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO strategy_configs (bot_id, strategy_type, timeframe, rsi_length, rsi_overbought, "
                    "rsi_oversold) VALUES (:bot, 'RSI', '4h', 14, :high, :low)"
                ),
                {"bot": bot_id} | ({"high": Decimal(70), "low": Decimal(30)} if pg else {"high": "70", "low": "30"}),
            )
            position_id = (
                await conn.execute(
                    text(
                        "INSERT INTO current_positions (bot_id, symbol, side, quantity, average_price, realized_pnl, "
                        "opened_at, updated_at, account) VALUES (:bot, 'SA40', 'long', 3, :p, :p, :at, :at, 'Paper') "
                        "RETURNING id"
                    ),
                    {"bot": bot_id, "p": price, "at": at},
                )
            ).scalar_one()
            for seq, quantity in enumerate((2, 1)):
                await conn.execute(
                    text(
                        "INSERT INTO position_entries (position_id, seq, fill_id, quantity, price, time) "
                        "VALUES (:pos, :seq, :fill, :q, :p, :at)"
                    ),
                    {"pos": position_id, "seq": seq, "fill": f"f-{seq}", "q": quantity, "p": price, "at": at},
                )
            await conn.commit()

        await db.upgrade()

        async with db.uow() as uow:
            bot = await uow.bots.get(bot_id)
            assert bot is not None and bot.config.base_position_size == 2
            position = await uow.positions.get(bot_id, "SA40", account="Paper", multiplier=Decimal(1))
            assert (position.quantity, [e.quantity for e in position.entries]) == (3, [2, 1])
            assert str(position.quantity) == "3" and position.average_price == 100
            # Fractions from here on, exactly.
            position.entries[-1] = replace(position.entries[-1], quantity=Decimal("0.015"))
            await uow.positions.save(bot_id, position)
            await uow.commit()
        async with db.uow(read_only=True) as uow:
            again = await uow.positions.get(bot_id, "SA40", account="Paper", multiplier=Decimal(1), for_update=False)
            assert [str(e.quantity) for e in again.entries] == ["2", "0.015"]
            assert [p.quantity for _bot, p in await uow.positions.list_open()] == [Decimal("2.015")]
    finally:
        await db.dispose()


def _downgrade(connection: sa.Connection, revision: str) -> None:
    from alembic import command

    from db.migrate import alembic_config

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_0014_goes_back_for_whole_quantities_and_refuses_to_drop_a_fraction(database_url: str) -> None:
    db = Database(database_url, passphrases=TEST_PASSPHRASES)
    try:
        await db.upgrade()
        async with db.uow() as uow:
            await uow.instruments.upsert(Instrument("SA40", min_quantity=Decimal(2)))
            await uow.commit()
        async with db.engine.connect() as conn:
            await conn.run_sync(_downgrade, "0013_candles_ledger")
            await conn.commit()
            assert (await conn.execute(text("SELECT min_quantity FROM instruments"))).scalar_one() == 2
        await db.upgrade()
        async with db.uow() as uow:
            await uow.instruments.upsert(
                Instrument("BTC", min_quantity=Decimal("0.001"), quantity_step=Decimal("0.001"))
            )
            await uow.commit()
        async with db.engine.connect() as conn:
            with pytest.raises(RuntimeError, match=r"instruments\.min_quantity holds 1 fractional quantities"):
                await conn.run_sync(_downgrade, "0013_candles_ledger")
    finally:
        await db.dispose()
