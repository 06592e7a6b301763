"""trading_bots.trade_management: a bot's trade-management fields (issue 29) as one JSON object;
current_positions.trailing_stop_pct: the trail an entry's alert asked for

Revision ID: 0012_trade_management
Revises: 0010_sign_in_attempts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_trade_management"
down_revision: str | None = "0011_account_legs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen here rather than imported from db.types, so this migration never changes.
EXACT = sa.Numeric(38, 12).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.add_column(sa.Column("trade_management", sa.Text(), nullable=True))
    with op.batch_alter_table("current_positions") as batch:
        batch.add_column(sa.Column("trailing_stop_pct", EXACT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("current_positions") as batch:
        batch.drop_column("trailing_stop_pct")
    with op.batch_alter_table("trading_bots") as batch:
        batch.drop_column("trade_management")
