"""insert sentinels on events and signals: many rows in one INSERT, their ids returned in order

Revision ID: 0007_insert_sentinels
Revises: 0006_users_events
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_insert_sentinels"
down_revision: str | None = "0006_users_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("sentinel", sa.Integer(), nullable=True))
    op.add_column("signals", sa.Column("sentinel", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("signals", "sentinel")
    op.drop_column("events", "sentinel")
