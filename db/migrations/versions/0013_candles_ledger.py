"""candles: the one-minute candles of the prices the desk saw, for the decision ledger

Revision ID: 0013_candles_ledger
Revises: 0010_sign_in_attempts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_candles_ledger"
down_revision: str | None = "0012_trade_management"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported from db.types, so this migration never changes.
UTC_TIME = sa.DateTime(timezone=True)


# Exact decimals are Numeric(38, 12) on PostgreSQL and their text on SQLite (db.types.ExactDecimal).
EXACT = sa.Numeric(38, 12).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("start", UTC_TIME, nullable=False),
        sa.Column("open", EXACT, nullable=False),
        sa.Column("high", EXACT, nullable=False),
        sa.Column("low", EXACT, nullable=False),
        sa.Column("close", EXACT, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "start", name=op.f("pk_candles")),
    )
    op.create_index(op.f("ix_candles_start"), "candles", ["start"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_candles_start"), table_name="candles")
    op.drop_table("candles")
