"""approvals: two approvers (the first one recorded), one reminder; bots size by risk

Revision ID: 0003_approvals
Revises: 0002_history_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_approvals"
down_revision: str | None = "0002_history_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported from db.types, so this migration never changes.
EXACT = sa.Numeric(38, 12).with_variant(sa.Text(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_approved_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("first_approved_at", UTC_TIME, nullable=True))
        batch_op.add_column(sa.Column("reminded_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("trading_bots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_per_trade_pct", EXACT, nullable=True))
        batch_op.add_column(sa.Column("second_approval_above", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("second_approval_risk_above", EXACT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trading_bots", schema=None) as batch_op:
        batch_op.drop_column("second_approval_risk_above")
        batch_op.drop_column("second_approval_above")
        batch_op.drop_column("risk_per_trade_pct")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("first_approved_at")
        batch_op.drop_column("first_approved_by")
