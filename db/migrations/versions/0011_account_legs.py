"""account legs: a bot's several accounts, a position per bot and account, trades by account

Revision ID: 0011_account_legs
Revises: 0010_sign_in_attempts
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_account_legs"
down_revision: str | None = "0010_sign_in_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@contextlib.contextmanager
def _entries_kept() -> Iterator[None]:
    """SQLite changes a constraint by copying the table and dropping the old one, and with
    foreign keys on (they are, and cannot be turned off inside the migration's transaction)
    the drop deletes every position's entries by cascade: they are kept aside and put back."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMP TABLE entries_kept AS SELECT * FROM position_entries")
    yield
    op.execute("DELETE FROM position_entries")
    op.execute("INSERT INTO position_entries SELECT * FROM entries_kept")
    op.execute("DROP TABLE entries_kept")


def upgrade() -> None:
    # Every existing position and trade is its bot's one account's.
    with op.batch_alter_table("trading_bots") as batch:
        batch.add_column(sa.Column("accounts", sa.Text(), nullable=True))
        batch.add_column(sa.Column("account_sizes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("account_symbols", sa.Text(), nullable=True))
    with op.batch_alter_table("current_positions") as batch:
        batch.add_column(sa.Column("account", sa.String(length=32), nullable=False, server_default=""))
    op.execute(
        "UPDATE current_positions SET account = (SELECT trading_bots.broker_account FROM trading_bots "
        "WHERE trading_bots.id = current_positions.bot_id)"
    )
    with _entries_kept():
        with op.batch_alter_table("current_positions") as batch:
            batch.alter_column("account", server_default=None)
            batch.drop_constraint("uq_current_positions_bot_id_symbol", type_="unique")
            batch.create_unique_constraint(
                "uq_current_positions_bot_id_account_symbol", ["bot_id", "account", "symbol"]
            )
    with op.batch_alter_table("exit_watches") as batch:
        batch.add_column(sa.Column("account", sa.String(length=32), nullable=False, server_default=""))
    op.execute(
        "UPDATE exit_watches SET account = (SELECT trading_bots.broker_account FROM trading_bots "
        "WHERE trading_bots.id = exit_watches.bot_id)"
    )
    with op.batch_alter_table("exit_watches") as batch:
        batch.alter_column("account", server_default=None)
        batch.drop_constraint("uq_exit_watches_bot_id_symbol", type_="unique")
        batch.create_unique_constraint("uq_exit_watches_bot_id_account_symbol", ["bot_id", "account", "symbol"])
    with op.batch_alter_table("trade_history") as batch:
        batch.add_column(sa.Column("account", sa.String(length=32), nullable=True))
    with op.batch_alter_table("control_state") as batch:
        batch.add_column(sa.Column("paused_accounts", sa.Text(), nullable=True))
    op.execute(
        "UPDATE trade_history SET account = (SELECT trading_bots.broker_account FROM trading_bots "
        "WHERE trading_bots.id = trade_history.bot_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("control_state") as batch:
        batch.drop_column("paused_accounts")
    with op.batch_alter_table("trade_history") as batch:
        batch.drop_column("account")
    with op.batch_alter_table("exit_watches") as batch:
        batch.drop_constraint("uq_exit_watches_bot_id_account_symbol", type_="unique")
        batch.create_unique_constraint("uq_exit_watches_bot_id_symbol", ["bot_id", "symbol"])
        batch.drop_column("account")
    with _entries_kept(), op.batch_alter_table("current_positions") as batch:
        batch.drop_constraint("uq_current_positions_bot_id_account_symbol", type_="unique")
        batch.create_unique_constraint("uq_current_positions_bot_id_symbol", ["bot_id", "symbol"])
        batch.drop_column("account")
    with op.batch_alter_table("trading_bots") as batch:
        batch.drop_column("account_symbols")
        batch.drop_column("account_sizes")
        batch.drop_column("accounts")
