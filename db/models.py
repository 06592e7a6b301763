"""The tables. Enumerations are stored as their string values (no database enum types,
so adding a state is not a migration); money and prices are ExactDecimal; times UtcDateTime."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel

from db.types import ExactDecimal, UtcDateTime

# Named constraints, so later migrations can drop or alter them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(row: type[Base]) -> Table:
    """The row class's table, as the Table it is: SQLAlchemy types `__table__` as a
    FromClause (a mapping may be to any selectable), but each of ours maps one table."""
    table = row.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{row.__name__} is not mapped to a table")
    return table


class BotRow(Base):
    __tablename__ = "trading_bots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_name: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(64))
    broker_account: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    tradingview_ticker: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean)
    mode: Mapped[str] = mapped_column(String(16))
    base_position_size: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_positions: Mapped[int] = mapped_column(Integer)
    allow_pyramiding: Mapped[bool] = mapped_column(Boolean)
    exit_on_opposite_signal: Mapped[bool] = mapped_column(Boolean)
    stop_loss_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    take_profit_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    approval_timeout_minutes: Mapped[int] = mapped_column(Integer)
    max_signal_age_seconds: Mapped[int] = mapped_column(Integer)
    max_slippage_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    max_daily_loss: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    risk_per_trade_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    second_approval_above: Mapped[int | None] = mapped_column(Integer)
    second_approval_risk_above: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    order_timeout_seconds: Mapped[int] = mapped_column(Integer, default=300, server_default=text("300"))
    # Trade management (approve scope, trading windows, caps, trails): the fields of
    # repositories.bots.TRADE_MANAGEMENT_FIELDS as one JSON object; NULL is every default.
    trade_management: Mapped[str | None] = mapped_column(Text)
    # A bot on several accounts: their names, sizes and symbols (JSON text; None: one account).
    accounts: Mapped[str | None] = mapped_column(Text)
    account_sizes: Mapped[str | None] = mapped_column(Text)
    account_symbols: Mapped[str | None] = mapped_column(Text)
    # Secrets: the webhook key only as its sha256 (looked up by) and its last 4 characters;
    # the passphrase only as an HMAC salted with the bot name. The signing secret must be
    # kept in clear: verifying an HMAC signature needs it.
    webhook_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_key_hint: Mapped[str] = mapped_column(String(16))
    passphrase_hash: Mapped[str | None] = mapped_column(String(64))
    signing_secret: Mapped[str | None] = mapped_column(Text)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    attention_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StrategyConfigRow(Base):
    __tablename__ = "strategy_configs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"), unique=True)
    strategy_type: Mapped[str] = mapped_column(String(32))
    timeframe: Mapped[str] = mapped_column(String(16))
    rsi_length: Mapped[int] = mapped_column(Integer)
    rsi_overbought: Mapped[Decimal] = mapped_column(ExactDecimal)
    rsi_oversold: Mapped[Decimal] = mapped_column(ExactDecimal)


class InstrumentRow(Base):
    __tablename__ = "instruments"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    min_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    max_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    quantity_step: Mapped[Decimal] = mapped_column(ExactDecimal)
    tick_size: Mapped[Decimal] = mapped_column(ExactDecimal)
    contract_multiplier: Mapped[Decimal] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text)
    trading_open: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CurrentPositionRow(Base):
    __tablename__ = "current_positions"
    # One per bot, account and symbol: a bot on several accounts holds a position on each.
    __table_args__ = (UniqueConstraint("bot_id", "account", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str | None] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    stop_loss: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    take_profit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    trailing_stop_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal)  # the entry alert's trail
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PositionEntryRow(Base):
    __tablename__ = "position_entries"
    __table_args__ = (UniqueConstraint("position_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("current_positions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # pyramid level order: the newest is trimmed first
    fill_id: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    time: Mapped[datetime] = mapped_column(UtcDateTime)


class FillRow(Base):
    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fill_id: Mapped[str] = mapped_column(String(128), unique=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"), index=True)
    client_order_id: Mapped[str] = mapped_column(String(128), index=True)
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TradeRow(Base):
    __tablename__ = "trade_history"
    # Covers realized_since: its SUM reads the index only, never the rows.
    __table_args__ = (Index("ix_trade_history_bot_closed", "bot_id", "closed_at", "realized_whole", "realized_frac"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    bot_name: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    entry_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    exit_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    # realized_pnl again, as integers that SUM() adds exactly on both databases (SQLite
    # would add the decimal text as floats): floor(pnl) and the rest in 1e-12 units.
    realized_whole: Mapped[int] = mapped_column(BigInteger)
    realized_frac: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    position_closed: Mapped[bool] = mapped_column(Boolean)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))
    client_order_id: Mapped[str | None] = mapped_column(String(128))
    account: Mapped[str | None] = mapped_column(String(32))  # the account the trade was made on


class RealizedByDayRow(Base):
    """Each bot's realized P&L per UTC day, kept in the trade's transaction: the daily loss
    check reads one row, however many trades the day has."""

    __tablename__ = "realized_by_day"
    __table_args__ = (UniqueConstraint("bot_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    day: Mapped[datetime] = mapped_column(UtcDateTime)  # the day's UTC midnight
    # As in trade_history: integers both databases add exactly.
    realized_whole: Mapped[int] = mapped_column(BigInteger)
    realized_frac: Mapped[int] = mapped_column(BigInteger)


class WebhookLogRow(Base):
    __tablename__ = "webhook_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    client_ip: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("trading_bots.id", ondelete="SET NULL"))
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))


class SignalRow(Base):
    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_bot_alert", "bot_id", "alert_id"),
        Index("ix_signals_bot_body_created", "bot_id", "body_hash", "created_at"),
        # The runner's look-ups: unfinished signals (all, or a bot's), oldest first.
        Index("ix_signals_state_id", "state", "id"),
        Index("ix_signals_bot_state_id", "bot_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    alert_id: Mapped[str | None] = mapped_column(String(256))
    body_hash: Mapped[str] = mapped_column(String(64))
    # The whole Signal but its passphrase, decimals as strings (db/codec.py).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    edits: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Lets the intake's one INSERT of a batch return the ids in the order given, on SQLite too.
    sentinel: Mapped[int | None] = orm_insert_sentinel()


class SignalStateChangeRow(Base):
    __tablename__ = "signal_state_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    cause: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)


class ApprovalRow(Base):
    __tablename__ = "approvals"

    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)  # Discord snowflakes need 64 bits
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    decision: Mapped[str | None] = mapped_column(String(16), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    # The decider's name as people read it, as it was then (a Discord member's display name).
    decided_by_name: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    edits: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    edited_by: Mapped[str | None] = mapped_column(String(128))
    first_approved_by: Mapped[str | None] = mapped_column(String(128))
    first_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"), index=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(128), unique=True)
    leg_index: Mapped[int] = mapped_column(Integer)
    leg_kind: Mapped[str] = mapped_column(String(16))
    position_side: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    type: Mapped[str] = mapped_column(String(16))
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(32))
    broker_order_id: Mapped[str | None] = mapped_column(String(128), index=True)
    filled_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    average_fill_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    applied_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    applied_cost: Mapped[Decimal] = mapped_column(ExactDecimal)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)


class ControlRow(Base):
    """One row (id 1): the global halt."""

    __tablename__ = "control_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    halted: Mapped[bool] = mapped_column(Boolean)
    halted_by: Mapped[str | None] = mapped_column(String(256))
    halted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    paused_accounts: Mapped[str | None] = mapped_column(Text)  # JSON {account: why}; None: none paused


class PaperAccountRow(Base):
    __tablename__ = "paper_accounts"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(8))
    balance: Mapped[Decimal] = mapped_column(ExactDecimal)


class PaperPositionRow(Base):
    __tablename__ = "paper_positions"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("paper_accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)  # signed: positive long, negative short
    average_price: Mapped[Decimal] = mapped_column(ExactDecimal)


class PaperOrderRow(Base):
    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id"),
        UniqueConstraint("account_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(128))
    client_order_id: Mapped[str] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    status: Mapped[str] = mapped_column(String(32))
    filled_quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    average_fill_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    time_in_force: Mapped[str] = mapped_column(String(16))
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)


class ExitWatchRow(Base):
    """The stop monitor's record of a position: the exit being seen through, the quotes
    missed in a row (so a restart, or another process, carries on where it was)."""

    __tablename__ = "exit_watches"
    __table_args__ = (UniqueConstraint("bot_id", "account", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    signal_id: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stopped: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str | None] = mapped_column(Text)
    quote_misses: Mapped[int] = mapped_column(Integer)
    quote_reported: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExchangeExitRow(Base):
    """The stop and target orders resting on the exchange for a position, by the client ids
    they were placed under (trading/domain/exchange_exits.py): what a restart finds again."""

    __tablename__ = "exchange_exits"
    __table_args__ = (UniqueConstraint("bot_id", "account", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("trading_bots.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    base_client_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    side: Mapped[str] = mapped_column(String(8))
    stop_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    target_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    placement: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserRow(Base):
    """A person of the web desk. Only the argon2 hash of the password is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiTokenRow(Base):
    """A person's API token, as the SHA-256 of a random 256-bit token (looked up by it)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebSessionRow(Base):
    """A signed-in browser: the SHA-256 of the random token its cookie carries. Deleted at
    logout, so a copied cookie dies with the session."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SignInAttemptRow(Base):
    """A sign-in attempt of the web desk, for the limits every process shares: counted as
    failed when it starts, marked signed_in when the password was right. Failed ones are
    deleted once past the window; one signed_in row per name and address is kept."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    signed_in: Mapped[bool] = mapped_column(Boolean)


class EventRow(Base):
    """The live feed, numbered by id: monotonic across restarts (AUTOINCREMENT on SQLite,
    so an id is never handed out twice even if rows are deleted)."""

    __tablename__ = "events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    bot_name: Mapped[str | None] = mapped_column(String(64))
    signal_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Lets one INSERT of many events return their numbers in the order given, on SQLite too
    # (SQLAlchemy's insert sentinel; the column holds nothing of ours).
    sentinel: Mapped[int | None] = orm_insert_sentinel()


class AccountRow(Base):
    """A broker account from an accounts file. `settings` holds its fields besides name and
    kind; secrets are never among them (only the names of the variables that hold them)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    broker: Mapped[str] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CandleRow(Base):
    """A one-minute candle of the prices the desk saw (trading/domain/candles.py)."""

    __tablename__ = "candles"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True, index=True)
    open: Mapped[Decimal] = mapped_column(ExactDecimal)
    high: Mapped[Decimal] = mapped_column(ExactDecimal)
    low: Mapped[Decimal] = mapped_column(ExactDecimal)
    close: Mapped[Decimal] = mapped_column(ExactDecimal)
