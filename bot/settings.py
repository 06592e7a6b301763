"""Typed settings, read once at start-up from the environment (and .env), passed down.

Secrets have no default and are SecretStr, so they never print in a log line or a repr.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.event_loop import LoopChoice
from web.limits import WebhookLimits, split_list

IdList = Annotated[list[int], NoDecode]


class Settings(BaseSettings):
    # WEBHOOK_RATE_PER_KEY fills `webhook.rate_per_key`: the webhook's limits are one value
    # (split once, at the first "_": WEBHOOK_LOG_MAX_ROWS stays a setting of its own here).
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    # --- process and storage
    database_url: str = "sqlite+aiosqlite:///./signaldesk.db"
    # Opening a PostgreSQL connection fails after this long (asyncpg's own default is 60 s,
    # which would hold requests that long during an outage).
    database_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    signaldesk_host: str = "127.0.0.1"
    signaldesk_port: int = 8000
    signaldesk_public_url: str | None = None  # how TradingView reaches us, e.g. https://desk.example.com
    signaldesk_api_token: SecretStr | None = None  # break-glass admin token, audited as api:break-glass
    # The pepper of the bots' passphrase hashes and the signer of web sessions (see
    # bot/secret_key.py); generated into a file when not set.
    signaldesk_secret_key: SecretStr | None = None
    signaldesk_data_dir: str | None = None  # where a generated secret key is kept
    signaldesk_session_hours: float = 12.0
    # Open event streams (/api/events/stream): a cap per person and in all; each checks its
    # session or token at every keep-alive.
    signaldesk_streams_per_person: int = Field(default=10, ge=1)
    signaldesk_streams_total: int = Field(default=500, ge=1)
    signaldesk_stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    signaldesk_feed_poll_seconds: float = Field(default=0.5, gt=0)
    cluster_retry_seconds: float = Field(default=2.0, gt=0)
    log_level: str = "INFO"
    signaldesk_event_loop: LoopChoice = "uvloop"  # see bot/event_loop.py
    bots_file: str | None = None  # imported at start-up when set
    accounts_file: str | None = None  # its accounts created or updated at start-up when set

    # --- webhook intake
    webhook: WebhookLimits = Field(default_factory=WebhookLimits)  # WEBHOOK_MAX_BODY_BYTES, ... (web/limits.py)
    webhook_dedupe_minutes: int = 15
    webhook_log_retention_days: float = 30.0  # older webhook_logs rows are deleted; 0: kept forever
    webhook_log_max_rows: int = 100_000  # beyond the newest this many, rows are deleted; 0: no cap
    webhook_log_trim_interval_seconds: float = 3600.0

    # --- execution
    max_active_bots: int = Field(default=256, ge=1)  # bots whose signals execute at the same moment
    monitor_interval_seconds: float = 5.0
    reconcile_interval_seconds: float = 300.0
    # A log line "runtime: N asyncio tasks, M database connections" this often (bench/soak.py
    # reads it to see that neither grows over a long day); 0 turns it off.
    runtime_stats_interval_seconds: float = Field(default=60.0, ge=0)

    # --- candles and the decision ledger (docs/ledger.md)
    candle_retention_days: float = Field(default=90.0, ge=0)  # older candles are deleted; 0: kept forever
    candle_flush_seconds: float = Field(default=15.0, gt=0)  # the candles seen are written this often
    ledger_weekly_summary: bool = False  # the last 7 days' ledger on the log channel, Mondays 00:00-01:00 UTC

    # --- Herenya (required only when a bot trades on Herenya)
    herenya_api_key: SecretStr | None = None
    herenya_api_secret: SecretStr | None = None
    herenya_base_url: str | None = None
    herenya_account_id: str | None = None
    herenya_timeout: float = 30.0
    herenya_retry_attempts: int = 3
    # Without HERENYA_BASE_URL, serve the Herenya simulator inside this process and trade on
    # it (what `make run` does, so a first try needs no account).
    herenya_simulator: bool = False

    # --- paper broker
    paper_account_id: str = "PAPER"
    paper_currency: str = "ZAR"
    paper_starting_balance: Decimal = Decimal("100000")

    # --- Discord (off when no token)
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None
    discord_approvals_channel_id: int | None = None
    discord_log_channel_id: int | None = None
    discord_error_channel_id: int | None = None
    discord_approver_role_ids: IdList = Field(default_factory=list)
    discord_approver_user_ids: IdList = Field(default_factory=list)
    discord_error_mention_role_id: int | None = None
    discord_approval_mention_role_id: int | None = None  # pinged by new cards and their reminder
    # Pending cards are re-rendered this often (quote, drift, countdown) and edited when their
    # text changed; 0 turns it off. The web desk polls its cards' live part as often.
    approval_card_refresh_seconds: float = Field(default=5.0, ge=0)
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    discord_guild_ready_timeout: float = 2.0

    # --- Telegram (off when no token)
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"

    @field_validator(
        "discord_token",
        "signaldesk_api_token",
        "herenya_api_key",
        "herenya_api_secret",
        "telegram_bot_token",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # .env.example ships `DISCORD_TOKEN=`: an empty secret means "not set", not "log in with ''".
        return None if isinstance(v, str) and not v.strip() else v

    _split_ids = field_validator("discord_approver_role_ids", "discord_approver_user_ids", mode="before")(split_list)

    @field_validator("signaldesk_secret_key", "signaldesk_data_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v


def setting_fields() -> dict[str, FieldInfo]:
    """Every setting by its environment variable (the contract docs/configuration.md lists):
    the webhook's limits as WEBHOOK_ and the limit's name."""
    found: dict[str, FieldInfo] = {}
    for name, field in Settings.model_fields.items():
        if name == "webhook":
            found |= {f"WEBHOOK_{limit.upper()}": f for limit, f in WebhookLimits.model_fields.items()}
        else:
            found[name.upper()] = field
    return found
