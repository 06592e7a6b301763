"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21 05:15:43.283382
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0001_initial'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here rather than imported from db.types, so this migration never changes:
# exact decimals are Numeric(38, 12) on PostgreSQL and their text on SQLite.
EXACT = sa.Numeric(38, 12).with_variant(sa.Text(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTC_TIME, nullable=False),
    sa.Column('actor', sa.String(length=256), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=256), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('control_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('halted', sa.Boolean(), nullable=False),
    sa.Column('halted_by', sa.String(length=256), nullable=True),
    sa.Column('halted_at', UTC_TIME, nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_state'))
    )
    op.create_table('instruments',
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('max_quantity', sa.Integer(), nullable=False),
    sa.Column('quantity_step', sa.Integer(), nullable=False),
    sa.Column('tick_size', EXACT, nullable=False),
    sa.Column('contract_multiplier', EXACT, nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('trading_open', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTC_TIME, nullable=False),
    sa.PrimaryKeyConstraint('symbol', name=op.f('pk_instruments'))
    )
    op.create_table('paper_accounts',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('balance', EXACT, nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_paper_accounts'))
    )
    op.create_table('trading_bots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_name', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=64), nullable=False),
    sa.Column('broker_account', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('tradingview_ticker', sa.String(length=64), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('base_position_size', sa.Integer(), nullable=False),
    sa.Column('max_positions', sa.Integer(), nullable=False),
    sa.Column('allow_pyramiding', sa.Boolean(), nullable=False),
    sa.Column('exit_on_opposite_signal', sa.Boolean(), nullable=False),
    sa.Column('stop_loss_pct', EXACT, nullable=True),
    sa.Column('take_profit_pct', EXACT, nullable=True),
    sa.Column('approval_timeout_minutes', sa.Integer(), nullable=False),
    sa.Column('max_signal_age_seconds', sa.Integer(), nullable=False),
    sa.Column('max_slippage_pct', EXACT, nullable=True),
    sa.Column('max_daily_loss', EXACT, nullable=True),
    sa.Column('webhook_key_hash', sa.String(length=64), nullable=False),
    sa.Column('webhook_key_hint', sa.String(length=16), nullable=False),
    sa.Column('passphrase_hash', sa.String(length=64), nullable=True),
    sa.Column('signing_secret', sa.Text(), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('needs_attention', sa.Boolean(), nullable=False),
    sa.Column('attention_reason', sa.Text(), nullable=True),
    sa.Column('created_at', UTC_TIME, nullable=False),
    sa.Column('updated_at', UTC_TIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_bots')),
    sa.UniqueConstraint('bot_name', name=op.f('uq_trading_bots_bot_name')),
    sa.UniqueConstraint('webhook_key_hash', name=op.f('uq_trading_bots_webhook_key_hash'))
    )
    op.create_table('current_positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('average_price', EXACT, nullable=True),
    sa.Column('stop_loss', EXACT, nullable=True),
    sa.Column('take_profit', EXACT, nullable=True),
    sa.Column('realized_pnl', EXACT, nullable=False),
    sa.Column('opened_at', UTC_TIME, nullable=True),
    sa.Column('updated_at', UTC_TIME, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_current_positions_bot_id_trading_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_current_positions')),
    sa.UniqueConstraint('bot_id', 'symbol', name=op.f('uq_current_positions_bot_id_symbol'))
    )
    op.create_table('fills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fill_id', sa.String(length=128), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('client_order_id', sa.String(length=128), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', EXACT, nullable=False),
    sa.Column('time', UTC_TIME, nullable=False),
    sa.Column('recorded_at', UTC_TIME, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_fills_bot_id_trading_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fills')),
    sa.UniqueConstraint('fill_id', name=op.f('uq_fills_fill_id'))
    )
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fills_bot_id'), ['bot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fills_client_order_id'), ['client_order_id'], unique=False)

    op.create_table('paper_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=128), nullable=False),
    sa.Column('client_order_id', sa.String(length=128), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('filled_quantity', sa.Integer(), nullable=False),
    sa.Column('average_fill_price', EXACT, nullable=True),
    sa.Column('limit_price', EXACT, nullable=True),
    sa.Column('time_in_force', sa.String(length=16), nullable=False),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.Column('created_at', UTC_TIME, nullable=True),
    sa.Column('updated_at', UTC_TIME, nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['paper_accounts.account_id'], name=op.f('fk_paper_orders_account_id_paper_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_orders')),
    sa.UniqueConstraint('account_id', 'client_order_id', name=op.f('uq_paper_orders_account_id_client_order_id')),
    sa.UniqueConstraint('account_id', 'order_id', name=op.f('uq_paper_orders_account_id_order_id'))
    )
    op.create_table('paper_positions',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('average_price', EXACT, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['paper_accounts.account_id'], name=op.f('fk_paper_positions_account_id_paper_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'symbol', name=op.f('pk_paper_positions'))
    )
    op.create_table('signals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('price', EXACT, nullable=False),
    sa.Column('alert_id', sa.String(length=256), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('edits', sa.JSON(), nullable=True),
    sa.Column('created_at', UTC_TIME, nullable=False),
    sa.Column('updated_at', UTC_TIME, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_signals_bot_id_trading_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signals'))
    )
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.create_index('ix_signals_bot_alert', ['bot_id', 'alert_id'], unique=False)
        batch_op.create_index('ix_signals_bot_body_created', ['bot_id', 'body_hash', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_signals_state'), ['state'], unique=False)

    op.create_table('strategy_configs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('strategy_type', sa.String(length=32), nullable=False),
    sa.Column('timeframe', sa.String(length=16), nullable=False),
    sa.Column('rsi_length', sa.Integer(), nullable=False),
    sa.Column('rsi_overbought', EXACT, nullable=False),
    sa.Column('rsi_oversold', EXACT, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_strategy_configs_bot_id_trading_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_configs')),
    sa.UniqueConstraint('bot_id', name=op.f('uq_strategy_configs_bot_id'))
    )
    op.create_table('approvals',
    sa.Column('signal_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', UTC_TIME, nullable=False),
    sa.Column('expires_at', UTC_TIME, nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=True),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', UTC_TIME, nullable=True),
    sa.Column('edits', sa.JSON(), nullable=True),
    sa.Column('edited_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_approvals_signal_id_signals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('signal_id', name=op.f('pk_approvals'))
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_decision'), ['decision'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('signal_id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('client_order_id', sa.String(length=128), nullable=False),
    sa.Column('leg_index', sa.Integer(), nullable=False),
    sa.Column('leg_kind', sa.String(length=16), nullable=False),
    sa.Column('position_side', sa.String(length=8), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('limit_price', EXACT, nullable=True),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('broker_order_id', sa.String(length=128), nullable=True),
    sa.Column('filled_quantity', sa.Integer(), nullable=False),
    sa.Column('average_fill_price', EXACT, nullable=True),
    sa.Column('applied_quantity', sa.Integer(), nullable=False),
    sa.Column('applied_cost', EXACT, nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', UTC_TIME, nullable=False),
    sa.Column('updated_at', UTC_TIME, nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_orders_bot_id_trading_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_orders_signal_id_signals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_orders_client_order_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_broker_order_id'), ['broker_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_signal_id'), ['signal_id'], unique=False)

    op.create_table('position_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('fill_id', sa.String(length=128), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', EXACT, nullable=False),
    sa.Column('time', UTC_TIME, nullable=False),
    sa.ForeignKeyConstraint(['position_id'], ['current_positions.id'], name=op.f('fk_position_entries_position_id_current_positions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_position_entries')),
    sa.UniqueConstraint('position_id', 'seq', name=op.f('uq_position_entries_position_id_seq'))
    )
    op.create_table('signal_state_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('signal_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('at', UTC_TIME, nullable=False),
    sa.Column('cause', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_signal_state_changes_signal_id_signals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_state_changes'))
    )
    with op.batch_alter_table('signal_state_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signal_state_changes_signal_id'), ['signal_id'], unique=False)

    op.create_table('trade_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=False),
    sa.Column('bot_name', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('entry_price', EXACT, nullable=False),
    sa.Column('exit_price', EXACT, nullable=False),
    sa.Column('realized_pnl', EXACT, nullable=False),
    sa.Column('opened_at', UTC_TIME, nullable=True),
    sa.Column('closed_at', UTC_TIME, nullable=False),
    sa.Column('position_closed', sa.Boolean(), nullable=False),
    sa.Column('signal_id', sa.Integer(), nullable=True),
    sa.Column('client_order_id', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_trade_history_bot_id_trading_bots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_trade_history_signal_id_signals'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trade_history'))
    )
    with op.batch_alter_table('trade_history', schema=None) as batch_op:
        batch_op.create_index('ix_trade_history_bot_closed', ['bot_id', 'closed_at'], unique=False)

    op.create_table('webhook_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', UTC_TIME, nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('bot_id', sa.Integer(), nullable=True),
    sa.Column('signal_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['bot_id'], ['trading_bots.id'], name=op.f('fk_webhook_logs_bot_id_trading_bots'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_webhook_logs_signal_id_signals'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_logs'))
    )
    with op.batch_alter_table('webhook_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_logs_received_at'), ['received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_logs_received_at'))

    op.drop_table('webhook_logs')
    with op.batch_alter_table('trade_history', schema=None) as batch_op:
        batch_op.drop_index('ix_trade_history_bot_closed')

    op.drop_table('trade_history')
    with op.batch_alter_table('signal_state_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signal_state_changes_signal_id'))

    op.drop_table('signal_state_changes')
    op.drop_table('position_entries')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_signal_id'))
        batch_op.drop_index(batch_op.f('ix_orders_broker_order_id'))

    op.drop_table('orders')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_decision'))

    op.drop_table('approvals')
    op.drop_table('strategy_configs')
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signals_state'))
        batch_op.drop_index('ix_signals_bot_body_created')
        batch_op.drop_index('ix_signals_bot_alert')

    op.drop_table('signals')
    op.drop_table('paper_positions')
    op.drop_table('paper_orders')
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fills_client_order_id'))
        batch_op.drop_index(batch_op.f('ix_fills_bot_id'))

    op.drop_table('fills')
    op.drop_table('current_positions')
    op.drop_table('trading_bots')
    op.drop_table('paper_accounts')
    op.drop_table('instruments')
    op.drop_table('control_state')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
