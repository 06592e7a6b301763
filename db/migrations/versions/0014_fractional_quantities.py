"""fractional quantities: every quantity column an exact decimal (0.01 BTC on an exchange account)

Revision ID: 0014_fractional_quantities
Revises: 0013_candles_ledger
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014_fractional_quantities"
down_revision: str | None = "0013_candles_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact decimals are Numeric(38, 12) on PostgreSQL and their text on SQLite (db.types.ExactDecimal).
EXACT = sa.Numeric(38, 12).with_variant(sa.Text(), "sqlite")
SCALE = 12

COLUMNS: dict[str, tuple[str, ...]] = {
    "trading_bots": ("base_position_size",),
    "instruments": ("min_quantity", "max_quantity", "quantity_step"),
    "current_positions": ("quantity",),
    "position_entries": ("quantity",),
    "fills": ("quantity",),
    "trade_history": ("quantity",),
    "orders": ("quantity", "filled_quantity", "applied_quantity"),
    "paper_positions": ("quantity",),
    "paper_orders": ("quantity", "filled_quantity"),
}

# What SQLite's copy of trading_bots and current_positions would empty: with foreign keys on
# (they are, and cannot be turned off inside the migration's transaction) dropping the old
# table deletes its children by cascade (or sets their reference to NULL). Parents first.
_DESCENDANTS = (
    "strategy_configs",
    "current_positions",
    "position_entries",
    "fills",
    "trade_history",
    "realized_by_day",
    "signals",
    "webhook_logs",
    "signal_state_changes",
    "approvals",
    "orders",
    "exit_watches",
)


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


@contextlib.contextmanager
def _descendants_kept() -> Iterator[None]:
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    there = _tables()
    kept = [table for table in _DESCENDANTS if table in there]
    for table in kept:
        op.execute(f"CREATE TEMP TABLE kept_{table} AS SELECT * FROM {table}")
    yield
    for table in reversed(kept):
        op.execute(f"DELETE FROM {table}")
    for table in kept:
        op.execute(f"INSERT INTO {table} SELECT * FROM kept_{table}")
        op.execute(f"DROP TABLE kept_{table}")
    problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the copy: {problems[:5]}")


def _retype(to: sa.types.TypeEngine[Any], using: str) -> None:
    there = _tables()
    with _descendants_kept():
        for table, columns in COLUMNS.items():
            if table not in there:
                continue
            with op.batch_alter_table(table) as batch:
                for column in columns:
                    batch.alter_column(
                        column,
                        type_=to,
                        existing_nullable=False,
                        postgresql_using=using.format(column=column),
                    )


def upgrade() -> None:
    _retype(EXACT, f"{{column}}::numeric(38, {SCALE})")
    if op.get_bind().dialect.name == "sqlite":
        # As ExactDecimal writes them: the text of the value to 12 places (1 → 1.000000000000),
        # so SQLite compares them as the app's own rows (`filled_quantity > 0`).
        there = _tables()
        for table, columns in COLUMNS.items():
            for column in (c for c in columns if table in there):
                op.execute(
                    f"UPDATE {table} SET {column} = printf('%d.{'0' * SCALE}', {column}) "
                    f"WHERE instr({column}, '.') = 0"
                )


def downgrade() -> None:
    # Fractional quantities have no integer column to go back to: refused rather than truncated.
    sqlite = op.get_bind().dialect.name == "sqlite"
    there = _tables()
    for table, columns in COLUMNS.items():
        for column in (c for c in columns if table in there):
            whole = f"CAST({column} AS REAL) = CAST({column} AS INTEGER)" if sqlite else f"{column} = trunc({column})"
            fractional = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {table} WHERE NOT ({whole})")).scalar_one()
            if fractional:
                raise RuntimeError(f"{table}.{column} holds {fractional} fractional quantities: cannot downgrade")
    _retype(sa.Integer(), "{column}::integer")
