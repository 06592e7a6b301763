"""approvals.decided_by_name: the decider's display name as it was at the decision

Revision ID: 0008_decider_names
Revises: 0007_insert_sentinels
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_decider_names"
down_revision: str | None = "0007_insert_sentinels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("approvals", sa.Column("decided_by_name", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("approvals", "decided_by_name")
