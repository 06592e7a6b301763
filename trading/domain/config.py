"""A bot's configuration: one strategy on one instrument with one broker account.

Field names follow docs/configuration.md. Validation errors name the field, so an
import of a TOML file can say exactly which bot and which field is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trading.domain import quantities
from trading.domain.accounts import built_in_name, check_name, no_such_account
from trading.domain.approval_scope import Approve
from trading.domain.values import BrokerName, Mode
from trading.domain.windows import WindowError, parse_window, zone

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class BotConfigError(ValueError):
    """A bot configuration that cannot be used; `errors` holds "field: message" lines."""

    def __init__(self, bot_name: str, errors: list[str]) -> None:
        self.bot_name = bot_name
        self.errors = errors
        super().__init__(f"bot {bot_name!r}: " + "; ".join(errors))


class BotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    bot_name: str
    platform: str = "TradingView"
    # An account's name: `Herenya` and `Paper` (any case) are the settings' accounts, any
    # other name an account of the accounts file (checked at import, where they are known).
    broker_account: str = BrokerName.PAPER.value
    # The bot's accounts when more than one: one alert makes one leg per account
    # (trading/domain/legs.py). One account is another way to write broker_account and is
    # kept as that alone; with several, broker_account is the first.
    accounts: tuple[str, ...] | None = None
    # Per account: the bot's quantity times this (rounded down to the instrument's step,
    # clamped to its minimum and maximum), and the symbol there when it differs.
    account_sizes: dict[str, Decimal] | None = None
    account_symbols: dict[str, str] | None = None
    symbol: str
    tradingview_ticker: str | None = None
    is_active: bool = True
    mode: Mode = Mode.APPROVE
    strategy_type: str = "RSI"
    timeframe: str = "4h"
    rsi_length: int = Field(default=14, ge=1, le=500)
    rsi_overbought: Decimal = Field(default=Decimal(70), ge=0, le=100)
    rsi_oversold: Decimal = Field(default=Decimal(30), ge=0, le=100)
    # Whole contracts on Herenya and paper; may be fractional (0.01 BTC) on an exchange account.
    base_position_size: Decimal = Field(default=Decimal(1), gt=0)
    max_positions: int = Field(default=1, ge=1)
    allow_pyramiding: bool = False
    exit_on_opposite_signal: bool = True
    stop_loss_pct: Decimal | None = Field(default=None, gt=0, lt=100)
    take_profit_pct: Decimal | None = Field(default=None, gt=0, le=1000)
    webhook_key: str
    passphrase: str | None = None
    signing_secret: str | None = None
    approval_timeout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_signal_age_seconds: int = Field(default=300, ge=1)
    # A limit order resting unfilled (or partly filled) this long is cancelled at the broker.
    order_timeout_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    max_slippage_pct: Decimal | None = Field(default=Decimal("0.5"), gt=0, le=100)
    max_daily_loss: Decimal | None = Field(default=None, gt=0)
    # Sizing by risk: an entry risks this percentage of the account's equity to its stop.
    risk_per_trade_pct: Decimal | None = Field(default=None, gt=0, le=100)
    # Above either, an approval card needs two different approvers.
    second_approval_above: int | None = Field(default=None, ge=1)
    second_approval_risk_above: Decimal | None = Field(default=None, gt=0)
    # --- trade management (issue 29); stored together (db: trading_bots.trade_management).
    # approve mode: "all" signals wait for a person, or only "entries" (exits run at once).
    approve: Approve = Approve.ALL
    # Trading windows (trading/domain/windows.py): entries only inside; closes always.
    trading_hours: tuple[str, ...] | None = None
    trading_timezone: str = "UTC"
    flatten_at_window_end: bool = False
    closed_dates: tuple[date, ...] | None = None
    # Caps (trading/domain/caps.py): entries a day; the daily loss that closes; the money at
    # risk to the stops across the bot's account.
    max_trades_per_day: int | None = Field(default=None, ge=1)
    flatten_on_daily_loss: bool = False
    max_open_risk: Decimal | None = Field(default=None, gt=0)
    # Trailing stops (trading/domain/trailing.py): percent or price distance from the best
    # price since entry; with an activation, only once the trade is that far in profit.
    trailing_stop_pct: Decimal | None = Field(default=None, gt=0, lt=100)
    trailing_stop_distance: Decimal | None = Field(default=None, gt=0)
    trailing_activation_pct: Decimal | None = Field(default=None, gt=0, le=1000)
    # Approvals that decay (trading/domain/approval_decay.py).
    approval_max_drift_pct: Decimal | None = Field(default=None, gt=0, le=100)
    approval_limit_offset_pct: Decimal | None = Field(default=None, ge=0, le=100)

    @field_validator("base_position_size")
    @classmethod
    def _size_bounds(cls, v: Decimal) -> Decimal:
        if not quantities.within_bounds(v):
            raise ValueError(
                f"must be at most {quantities.MAX_QUANTITY:,} with at most {quantities.MAX_DECIMALS} decimals"
            )
        return quantities.plain(v)

    @field_validator("bot_name")
    @classmethod
    def _name_shape(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1 to 64 characters of letters, digits, '_', '-' or '.'")
        return v

    @field_validator("symbol")
    @classmethod
    def _symbol_shape(cls, v: str) -> str:
        if not v or len(v) > 32:
            raise ValueError("must be 1 to 32 characters")
        return v

    @field_validator("webhook_key")
    @classmethod
    def _key_shape(cls, v: str) -> str:
        if not _KEY.match(v):
            raise ValueError("must be 8 to 128 characters of letters, digits, '_' or '-'")
        return v

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_lower(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() not in ("auto", "approve"):
            raise ValueError(f"must be 'auto' or 'approve', not {v!r}")
        return v.lower() if isinstance(v, str) else v

    @field_validator("approve", mode="before")
    @classmethod
    def _approve_word(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() not in ("entries", "all"):
            raise ValueError(f"must be 'entries' or 'all', not {v!r}")
        return v.lower() if isinstance(v, str) else v

    @field_validator("trading_hours", mode="before")
    @classmethod
    def _windows(cls, v: Any) -> Any:
        if isinstance(v, str):
            # One text (`replay --set`): windows separated by ";".
            v = [w for w in (part.strip() for part in v.split(";")) if w]
        if isinstance(v, list | tuple):
            if not v:
                return None
            for text in v:
                if not isinstance(text, str):
                    raise ValueError('every window must be text, e.g. "Mon-Fri 08:00-16:30"')
                try:
                    parse_window(text)
                except WindowError as e:
                    raise ValueError(str(e)) from None
            return tuple(" ".join(t.split()) for t in v)
        return v

    @field_validator("trading_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zone(v)
        except WindowError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("closed_dates", mode="before")
    @classmethod
    def _no_empty_dates(cls, v: Any) -> Any:
        if isinstance(v, str):  # one text (`replay --set`): dates separated by ","
            v = [d for d in (part.strip() for part in v.split(",")) if d]
        return None if isinstance(v, list | tuple) and not v else v

    @field_validator("broker_account")
    @classmethod
    def _account_name(cls, v: str) -> str:
        return built_in_name(v) or check_name(v)

    @model_validator(mode="before")
    @classmethod
    def _the_accounts(cls, data: Any, info: ValidationInfo) -> Any:
        """`accounts = ["main"]` is `broker_account = "main"`: stored and compared as that;
        `accounts = ["main", "prop"]` keeps the list, with broker_account its first. Given the
        configured accounts (`parse(..., accounts=...)`), every name is checked."""
        if not isinstance(data, dict) or data.get("accounts") is None:
            return data
        names = data["accounts"]
        if isinstance(names, str) or not isinstance(names, list | tuple) or not names:
            raise ValueError('accounts: must be a list of account names, e.g. ["main"] or ["main", "prop"]')
        if not all(isinstance(n, str) for n in names):
            raise ValueError("accounts: every entry must be an account name (text)")
        names = [built_in_name(n.strip()) or n.strip() for n in names]
        if len({n.lower() for n in names}) != len(names):
            raise ValueError("accounts: names an account more than once")
        known: list[str] = list((info.context or {}).get("accounts") or [])
        unknown = [why for n in names if known and (why := no_such_account(n, known))]
        if unknown:
            raise ValueError(f"accounts: {'; '.join(unknown)}")
        given = data.get("broker_account")
        if given is not None and str(given).lower() != names[0].lower():
            first = "names" if len(names) == 1 else "starts with"
            raise ValueError(
                f"accounts: {first} {names[0]!r} but broker_account names {given!r}; give one of them "
                "(broker_account is the one-account shorthand)"
            )
        return {**data, "broker_account": names[0], "accounts": None if len(names) == 1 else tuple(names)}

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in v or ():
            try:
                check_name(name)
            except ValueError as e:
                raise ValueError(f"{name!r} {e}") from None
        return v

    @field_validator("account_sizes", "account_symbols", mode="before")
    @classmethod
    def _account_keys(cls, v: Any) -> Any:
        # Herenya and Paper in any case, as broker_account takes them.
        return {built_in_name(str(k)) or str(k).strip(): x for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("account_sizes")
    @classmethod
    def _sizes(cls, v: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for name, scale in (v or {}).items():
            if not scale.is_finite() or scale <= 0 or scale > 1000:
                raise ValueError(f"{name}: must be a number above 0 and at most 1000 (prop = 2 doubles), not {scale}")
        return v or None

    @field_validator("account_symbols")
    @classmethod
    def _symbols(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for name, symbol in (v or {}).items():
            if not symbol.strip() or len(symbol) > 32:
                raise ValueError(f"{name}: the symbol must be 1 to 32 characters")
        return {k: s.strip() for k, s in v.items()} if v else None

    @field_validator("passphrase", "signing_secret", "tradingview_ticker", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.rsi_oversold >= self.rsi_overbought:
            raise ValueError(f"rsi_oversold ({self.rsi_oversold}) must be below rsi_overbought ({self.rsi_overbought})")
        if self.flatten_on_daily_loss and self.max_daily_loss is None:
            raise ValueError("flatten_on_daily_loss: needs max_daily_loss (the loss at which the bot flattens)")
        if self.trailing_stop_pct is not None and self.trailing_stop_distance is not None:
            raise ValueError("trailing_stop_distance: give trailing_stop_pct or trailing_stop_distance, not both")
        if self.trailing_activation_pct is not None and (
            self.trailing_stop_pct is None and self.trailing_stop_distance is None
        ):
            raise ValueError("trailing_activation_pct: needs trailing_stop_pct or trailing_stop_distance")
        if not self.allow_pyramiding and self.max_positions > 1:
            # Not an error: max_positions only matters with pyramiding; kept as written.
            pass
        mine = self.account_names
        for field in ("account_sizes", "account_symbols"):
            for name in getattr(self, field) or {}:
                if name not in mine:
                    raise ValueError(
                        f"{field}: {name!r} is not one of the bot's accounts ({', '.join(mine)}); "
                        "name an account from accounts (or broker_account)"
                    )
        return self

    @property
    def account_names(self) -> tuple[str, ...]:
        """The accounts the bot trades on, in the order written (one leg each)."""
        return self.accounts or (self.broker_account,)

    def symbol_on(self, account: str) -> str:
        """The bot's symbol on `account` (account_symbols, else the bot's symbol)."""
        return (self.account_symbols or {}).get(account, self.symbol)

    def size_on(self, account: str) -> Decimal:
        """How `account` scales the bot's quantity (account_sizes; 1 when not given)."""
        return (self.account_sizes or {}).get(account, Decimal(1))

    @property
    def ticker(self) -> str:
        """What TradingView's {{ticker}} sends for this bot."""
        return self.tradingview_ticker or self.symbol

    @classmethod
    def parse(cls, data: dict[str, Any], *, accounts: Sequence[str] | None = None) -> BotConfig:
        """Validate `data`, raising BotConfigError whose lines name each bad field; with
        `accounts` (the configured names) the names in an `accounts` list are checked too."""
        name = str(data.get("bot_name", "<unnamed>"))
        try:
            return cls.model_validate(data, context=None if accounts is None else {"accounts": list(accounts)})
        except ValidationError as e:
            raise BotConfigError(name, _field_errors(e)) from e


def _field_errors(e: ValidationError) -> list[str]:
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"] and re.match(r"^[a-z_]+: ", msg):
            # A rule across fields that names its field itself.
            loc, msg = msg.split(": ", 1)
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "is required"
        lines.append(f"{loc}: {msg}")
    return lines


def fractions_on_whole_contracts(config: BotConfig, whole: Iterable[str]) -> list[str]:
    """A bot's fractional base_position_size on each of its accounts that trades whole
    contracts (Herenya, paper), one error line each: fractions are for exchange accounts."""
    whole = set(whole)
    return [
        f"bot {config.bot_name}: base_position_size: {why}"
        for name in config.account_names
        if name in whole
        and (why := quantities.whole_contracts_refusal(config.base_position_size, config.symbol_on(name), name))
    ]
