"""exchange_exits: the stop and target orders resting on the exchange for each position

Revision ID: 0015_exchange_exits
Revises: 0014_fractional_quantities
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_exchange_exits"
down_revision: str | None = "0014_fractional_quantities"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported from db.types, so this migration never changes.
UTC_TIME = sa.DateTime(timezone=True)
# Exact decimals are Numeric(38, 12) on PostgreSQL and their text on SQLite (db.types.ExactDecimal).
EXACT = sa.Numeric(38, 12).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange_exits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("opened_at", UTC_TIME, nullable=True),
        sa.Column("base_client_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("stop_price", EXACT, nullable=True),
        sa.Column("target_price", EXACT, nullable=True),
        sa.Column("placement", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["trading_bots.id"], name=op.f("fk_exchange_exits_bot_id_trading_bots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_exits")),
        sa.UniqueConstraint("bot_id", "account", "symbol", name=op.f("uq_exchange_exits_bot_id_account_symbol")),
    )


def downgrade() -> None:
    op.drop_table("exchange_exits")
