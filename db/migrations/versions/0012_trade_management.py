"""trading_bots.trade_management: a bot's trade-management fields (issue 29) as one JSON object

Revision ID: 0012_trade_management
Revises: 0010_sign_in_attempts
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_trade_management"
down_revision: str | None = "0010_sign_in_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.add_column(sa.Column("trade_management", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trading_bots") as batch:
        batch.drop_column("trade_management")
