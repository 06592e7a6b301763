"""exit watches: the stop monitor's record of each position's exit and missing quotes

Revision ID: 0004_repair
Revises: 0003_approvals
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_repair"
down_revision: str | None = "0003_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported from db.types, so this migration never changes.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exit_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("opened_at", UTC_TIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", UTC_TIME, nullable=True),
        sa.Column("stopped", sa.Text(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=True),
        sa.Column("quote_misses", sa.Integer(), nullable=False),
        sa.Column("quote_reported", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["trading_bots.id"], name=op.f("fk_exit_watches_bot_id_trading_bots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exit_watches")),
        sa.UniqueConstraint("bot_id", "symbol", name=op.f("uq_exit_watches_bot_id_symbol")),
    )


def downgrade() -> None:
    op.drop_table("exit_watches")
