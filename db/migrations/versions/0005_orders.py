"""orders that rest are cancelled: a bot's order_timeout_seconds

Revision ID: 0005_orders
Revises: 0004_repair
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_orders"
down_revision: str | None = "0004_repair"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ALTER TABLE ADD COLUMN on both databases: SQLite's batch mode would copy the
    # table and drop the old one, and the drop cascades to every row that names a bot.
    op.add_column(
        "trading_bots", sa.Column("order_timeout_seconds", sa.Integer(), nullable=False, server_default=sa.text("300"))
    )


def downgrade() -> None:
    op.drop_column("trading_bots", "order_timeout_seconds")  # SQLite 3.35+ drops a column in place
