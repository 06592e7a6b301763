"""trading_bots + strategy_configs: bots, stored without their secrets in clear."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, insert, or_, select, update

from db.errors import NotFound, WebhookKeyInUse
from db.models import BotRow, StrategyConfigRow, table_of
from db.repositories.base import Repository
from trading.domain.config import BotConfig
from trading.domain.credentials import secrets_to_store
from trading.domain.records import Bot
from trading.domain.values import Mode

BOTS = table_of(BotRow)
STRATEGIES = table_of(StrategyConfigRow)

CONFIG_COLUMNS = (
    "platform",
    "broker_account",
    "symbol",
    "tradingview_ticker",
    "is_active",
    "mode",
    "base_position_size",
    "max_positions",
    "allow_pyramiding",
    "exit_on_opposite_signal",
    "stop_loss_pct",
    "take_profit_pct",
    "approval_timeout_minutes",
    "max_signal_age_seconds",
    "max_slippage_pct",
    "max_daily_loss",
    "risk_per_trade_pct",
    "second_approval_above",
    "second_approval_risk_above",
    "order_timeout_seconds",
)
# Kept together as one JSON object in `trade_management`: the lists among them have no
# column type common to both databases, and the block grows field by field.
TRADE_MANAGEMENT_FIELDS = (
    "approve",
    "trading_hours",
    "trading_timezone",
    "flatten_at_window_end",
    "closed_dates",
    "max_trades_per_day",
    "flatten_on_daily_loss",
    "max_open_risk",
    "trailing_stop_pct",
    "trailing_stop_distance",
    "trailing_activation_pct",
    "approval_max_drift_pct",
    "approval_limit_offset_pct",
)
STRATEGY_COLUMNS = ("strategy_type", "timeframe", "rsi_length", "rsi_overbought", "rsi_oversold")
SECRET_FIELDS = ("webhook_key", "passphrase", "signing_secret")
# A bot's accounts beyond the first, with their sizes and symbols: JSON text (None when not
# given; one account alone is stored as broker_account).
ACCOUNT_COLUMNS = ("accounts", "account_sizes", "account_symbols")
# Every BotConfig field lands in exactly one of these (a test holds this true).
STORED_FIELDS = (
    "bot_name",
    *CONFIG_COLUMNS,
    *STRATEGY_COLUMNS,
    *SECRET_FIELDS,
    *ACCOUNT_COLUMNS,
    *TRADE_MANAGEMENT_FIELDS,
)

_OTHER_ON_SYMBOL = (
    select(BOTS.c.id)
    .where(
        BOTS.c.id != bindparam("bot_id"),
        # On the account first, or as one of several (`accounts`, stored as a JSON list).
        or_(BOTS.c.broker_account == bindparam("account"), BOTS.c.accounts.like(bindparam("listed"))),
        BOTS.c.symbol == bindparam("symbol"),
    )
    .limit(1)
)

# Stored rows are re-validated through BotConfig on the way out; the real key is not
# stored, so a well-formed stand-in passes validation and is then replaced by the hint.
_STAND_IN_KEY = "stored-key"


_SELECT = select(BOTS, *(STRATEGIES.c[c] for c in STRATEGY_COLUMNS)).join(STRATEGIES, STRATEGIES.c.bot_id == BOTS.c.id)
# Built once: building a statement costs more than running it.
_BY_ID = _SELECT.where(BOTS.c.id == bindparam("value"))
_BY_NAME = _SELECT.where(BOTS.c.bot_name == bindparam("value"))
_BY_KEY_HASH = _SELECT.where(BOTS.c.webhook_key_hash == bindparam("value"))
# FOR NO KEY UPDATE on PostgreSQL (SQLite ignores it; its writer lock is held): alerts for
# one bot are judged one transaction at a time, so two identical ones cannot both find no
# duplicate. NO KEY: it does not block inserts whose foreign keys name the bot.
_BY_KEY_HASH_FOR_UPDATE = _BY_KEY_HASH.with_for_update(of=BOTS, key_share=True)
# A batch of alerts' bots in one statement. In id order: two transactions locking several
# bots' rows (PostgreSQL) take them in the same order, so they cannot deadlock.
_BY_KEY_HASHES = _SELECT.where(BOTS.c.webhook_key_hash.in_(bindparam("values", expanding=True))).order_by(BOTS.c.id)
_BY_KEY_HASHES_FOR_UPDATE = _BY_KEY_HASHES.with_for_update(of=BOTS, key_share=True)
_ALL = _SELECT.order_by(BOTS.c.bot_name)
_NAME = select(BOTS.c.bot_name).where(BOTS.c.id == bindparam("bot_id"))
_CONFIG_FIELDS = ("bot_name", *CONFIG_COLUMNS, *STRATEGY_COLUMNS, *ACCOUNT_COLUMNS, "trade_management")


def _account_columns(config: BotConfig) -> dict[str, str | None]:
    """The account fields as stored: JSON text, numbers as exact strings."""
    out: dict[str, str | None] = {}
    for field in ACCOUNT_COLUMNS:
        value = getattr(config, field)
        if isinstance(value, dict):
            value = {k: str(v) for k, v in value.items()}
        out[field] = None if value is None else json.dumps(list(value) if isinstance(value, tuple) else value)
    return out


@functools.lru_cache(maxsize=1024)
def _config(hint: str, values: tuple[Any, ...]) -> BotConfig:
    """The stored columns validated as a BotConfig. Cached: the same columns always make the
    same (frozen) config, and validating them is most of what reading a bot costs."""
    data = dict(zip(_CONFIG_FIELDS, values, strict=True))
    for field in ACCOUNT_COLUMNS:
        data[field] = None if data[field] is None else json.loads(data[field])
    managed = data.pop("trade_management")
    if managed:
        data |= json.loads(managed)
    return BotConfig.parse({**data, "webhook_key": _STAND_IN_KEY}).model_copy(
        update={"webhook_key": hint, "passphrase": None, "signing_secret": None}
    )


def _to_bot(row: Row[Any]) -> Bot:
    m = row._mapping
    config = _config(m["webhook_key_hint"], tuple(m[c] for c in _CONFIG_FIELDS))
    return Bot(
        id=m["id"],
        config=config,
        webhook_key_hash=m["webhook_key_hash"],
        webhook_key_hint=m["webhook_key_hint"],
        passphrase_hash=m["passphrase_hash"],
        signing_secret=m["signing_secret"],
        paused=m["paused"],
        paused_reason=m["paused_reason"],
        needs_attention=m["needs_attention"],
        attention_reason=m["attention_reason"],
    )


def _trade_management(config: BotConfig) -> str | None:
    """The trade-management fields that differ from their defaults, as JSON (None: none do)."""
    changed = config.model_dump(mode="json", include=set(TRADE_MANAGEMENT_FIELDS), exclude_defaults=True)
    return json.dumps(changed, sort_keys=True) if changed else None


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


class SqlBotRepository(Repository):
    async def _one(self, stmt: Any, value: Any) -> Bot | None:
        s = self._uow
        row = (await s.execute(stmt, {"value": value})).first()
        if row is None:
            return None
        bot = _to_bot(row)
        self._uow.bot_names[bot.id] = bot.name
        return bot

    async def get(self, bot_id: int) -> Bot | None:
        return await self._one(_BY_ID, bot_id)

    async def get_by_name(self, name: str) -> Bot | None:
        return await self._one(_BY_NAME, name)

    async def get_by_key_hash(self, key_hash: str, *, for_update: bool = False) -> Bot | None:
        return await self._one(_BY_KEY_HASH_FOR_UPDATE if for_update else _BY_KEY_HASH, key_hash)

    async def get_by_key_hashes(self, key_hashes: Sequence[str], *, for_update: bool = False) -> dict[str, Bot]:
        if not key_hashes:
            return {}
        stmt = _BY_KEY_HASHES_FOR_UPDATE if for_update else _BY_KEY_HASHES
        rows = (await self._uow.execute(stmt, {"values": sorted(set(key_hashes))})).all()
        bots = [_to_bot(r) for r in rows]
        self._uow.bot_names.update((b.id, b.name) for b in bots)
        return {b.webhook_key_hash: b for b in bots}

    async def list(self) -> builtins.list[Bot]:
        s = self._uow
        rows = (await s.execute(_ALL)).all()
        bots = [_to_bot(r) for r in rows]
        self._uow.bot_names.update((b.id, b.name) for b in bots)
        return bots

    async def shares_symbol(self, bot: Bot) -> bool:
        s = self._uow
        account = bot.config.broker_account
        params = {
            "bot_id": bot.id,
            "account": account,
            "listed": f"%{json.dumps(account)}%",
            "symbol": bot.config.symbol,
        }
        return (await s.execute(_OTHER_ON_SYMBOL, params)).first() is not None

    async def name_of(self, bot_id: int) -> str:
        """The bot's name (cached for the unit of work); NotFound when there is no such bot."""
        name = self._uow.database.bot_names.get(bot_id) or self._uow.bot_names.get(bot_id)
        if name is None:
            s = self._uow
            name = (await s.execute(_NAME, {"bot_id": bot_id})).scalar_one_or_none()
            if name is None:
                raise NotFound(f"bot {bot_id} does not exist")
            self._uow.bot_names[bot_id] = name
        return name

    async def upsert(self, config: BotConfig) -> Bot:
        """Create or update by bot_name. The config is the source of truth for the config
        fields; runtime state (paused, needs attention) is kept. A config read back from
        the database carries the masked key ("****abcd"): when it matches the stored hint
        the stored key hash is kept, and a passphrase / signing secret left None keeps the
        stored one, so `upsert(bot.config.model_copy(update=...))` changes only what it says."""
        s = self._uow
        name = config.bot_name
        existing = await self.get_by_name(name)
        secrets = dataclasses.asdict(secrets_to_store(config, existing, self._passphrase_hash))
        clash = (
            await s.execute(
                select(BOTS.c.bot_name).where(
                    BOTS.c.webhook_key_hash == secrets["webhook_key_hash"], BOTS.c.bot_name != name
                )
            )
        ).scalar_one_or_none()
        if clash is not None:
            raise WebhookKeyInUse(f"bot {name}: webhook_key is already used by bot {clash}; every bot needs its own")
        now = self._now()
        values = (
            {c: _enum_value(getattr(config, c)) for c in CONFIG_COLUMNS}
            | _account_columns(config)
            | secrets
            | {"updated_at": now}
        )
        values["trade_management"] = _trade_management(config)
        strategy = {c: getattr(config, c) for c in STRATEGY_COLUMNS}
        if existing is None:
            bot_id = (
                await s.execute(
                    insert(BOTS)
                    .values(bot_name=name, paused=False, needs_attention=False, created_at=now, **values)
                    .returning(BOTS.c.id)
                )
            ).scalar_one()
            await s.execute(insert(STRATEGIES).values(bot_id=bot_id, **strategy))
        else:
            bot_id = existing.id
            await s.execute(update(BOTS).where(BOTS.c.id == bot_id).values(**values))
            await s.execute(update(STRATEGIES).where(STRATEGIES.c.bot_id == bot_id).values(**strategy))
        bot = await self.get(bot_id)
        assert bot is not None
        return bot

    def _passphrase_hash(self, bot_name: str, passphrase: str) -> str:
        passphrases = self._uow.database.passphrases
        if passphrases is None:
            raise ValueError(
                f"bot {bot_name}: passphrase: cannot be stored without the server's secret key "
                "(this database handle was opened without one)"
            )
        return passphrases.hash(bot_name, passphrase)

    async def _set(self, bot_id: int, **values: Any) -> None:
        s = self._uow
        result = await s.execute(update(BOTS).where(BOTS.c.id == bot_id).values(updated_at=self._now(), **values))
        if result.rowcount != 1:
            raise NotFound(f"bot {bot_id} does not exist")

    async def set_passphrase_hash(self, bot_id: int, passphrase_hash: str) -> None:
        await self._set(bot_id, passphrase_hash=passphrase_hash)

    async def set_paused(self, bot_id: int, paused: bool, reason: str | None = None) -> None:
        await self._set(bot_id, paused=paused, paused_reason=reason if paused else None)

    async def set_mode(self, bot_id: int, mode: Mode) -> None:
        await self._set(bot_id, mode=Mode(mode).value)

    async def set_needs_attention(self, bot_id: int, flag: bool, reason: str | None = None) -> None:
        await self._set(bot_id, needs_attention=flag, attention_reason=reason if flag else None)
