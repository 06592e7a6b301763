"""history costs nothing: realized P&L per bot and day, exact integer pnl for SUM(), indexes

Revision ID: 0002_history_indexes
Revises: 0001_initial
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Context, Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0002_history_indexes"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported from db.types, so this migration never changes.
_FRAC_UNITS = Decimal(10) ** 12
UTC_TIME = sa.DateTime(timezone=True)
_WIDE = Context(prec=60)


def _split(pnl: Decimal) -> tuple[int, int]:
    whole = pnl.to_integral_value(rounding=ROUND_FLOOR)
    return int(whole), int(_WIDE.multiply(_WIDE.subtract(pnl, whole), _FRAC_UNITS))


def upgrade() -> None:
    with op.batch_alter_table("trade_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("realized_whole", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("realized_frac", sa.BigInteger(), nullable=True))

    op.create_table(
        "realized_by_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("day", UTC_TIME, nullable=False),
        sa.Column("realized_whole", sa.BigInteger(), nullable=False),
        sa.Column("realized_frac", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["trading_bots.id"], name=op.f("fk_realized_by_day_bot_id_trading_bots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realized_by_day")),
        sa.UniqueConstraint("bot_id", "day", name=op.f("uq_realized_by_day_bot_id_day")),
    )

    # Existing trades, their P&L read as text so both databases give the exact decimal.
    conn = op.get_bind()
    trades = sa.table(
        "trade_history",
        sa.column("id", sa.Integer()),
        sa.column("bot_id", sa.Integer()),
        sa.column("closed_at", UTC_TIME),
        sa.column("realized_pnl", sa.Text()),
        sa.column("realized_whole", sa.BigInteger()),
        sa.column("realized_frac", sa.BigInteger()),
    )
    days = sa.table(
        "realized_by_day",
        sa.column("bot_id", sa.Integer()),
        sa.column("day", UTC_TIME),
        sa.column("realized_whole", sa.BigInteger()),
        sa.column("realized_frac", sa.BigInteger()),
    )
    rows = conn.execute(
        sa.select(trades.c.id, trades.c.bot_id, trades.c.closed_at, sa.cast(trades.c.realized_pnl, sa.Text()))
    ).all()
    totals: dict[tuple[int, datetime], tuple[int, int]] = {}
    for trade_id, bot_id, closed_at, pnl in rows:
        whole, frac = _split(Decimal(pnl))
        conn.execute(
            trades.update().where(trades.c.id == trade_id).values(realized_whole=whole, realized_frac=frac)
        )
        at = closed_at.astimezone(UTC) if closed_at.tzinfo else closed_at.replace(tzinfo=UTC)
        key = (bot_id, at.replace(hour=0, minute=0, second=0, microsecond=0))
        before = totals.get(key, (0, 0))
        totals[key] = (before[0] + whole, before[1] + frac)
    for (bot_id, day), (whole, frac) in sorted(totals.items()):
        # SQLite keeps UTC wall time without an offset (as db.types.UtcDateTime writes it).
        stored_day = day if conn.dialect.name != "sqlite" else day.replace(tzinfo=None)
        conn.execute(days.insert().values(bot_id=bot_id, day=stored_day, realized_whole=whole, realized_frac=frac))

    with op.batch_alter_table("trade_history", schema=None) as batch_op:
        batch_op.alter_column("realized_whole", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("realized_frac", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_index("ix_trade_history_bot_closed")
        batch_op.create_index(
            "ix_trade_history_bot_closed",
            ["bot_id", "closed_at", "realized_whole", "realized_frac"],
            unique=False,
        )

    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("ix_signals_state")
        batch_op.create_index("ix_signals_state_id", ["state", "id"], unique=False)
        batch_op.create_index("ix_signals_bot_state_id", ["bot_id", "state", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("realized_by_day")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("ix_signals_bot_state_id")
        batch_op.drop_index("ix_signals_state_id")
        batch_op.create_index("ix_signals_state", ["state"], unique=False)

    with op.batch_alter_table("trade_history", schema=None) as batch_op:
        batch_op.drop_index("ix_trade_history_bot_closed")
        batch_op.create_index("ix_trade_history_bot_closed", ["bot_id", "closed_at"], unique=False)
        batch_op.drop_column("realized_frac")
        batch_op.drop_column("realized_whole")
