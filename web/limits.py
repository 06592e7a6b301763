"""The webhook's limits: one value, read from the WEBHOOK_* settings (bot/settings.py holds it
as `Settings.webhook`) and handed to the web app (`WebDeps.webhook`).

Each limit is spelled here once; the setting's environment name is WEBHOOK_ and the field's
name in capitals (WEBHOOK_RATE_PER_KEY: `rate_per_key`), a contract docs/configuration.md
lists.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

# A list setting is written "a, b" in the environment, not as JSON.
StrList = Annotated[list[str], NoDecode]
TRADINGVIEW_SENDERS = ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]


def split_list(v: object) -> object:
    """A list setting as the environment gives it: "a, b" -> ["a", "b"]."""
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    return v


class WebhookLimits(BaseModel):
    # The other WEBHOOK_* settings (the dedupe window, the log's retention) reach this model
    # too when the settings are read, and are not its business.
    model_config = ConfigDict(frozen=True, extra="ignore")

    max_body_bytes: int = 64 * 1024
    body_timeout_seconds: float = 5.0  # a body (webhook or API) not in by then is answered 408
    # TradingView sends every user's alerts from 4 addresses: a bar close's burst (300
    # alerts and more) comes from one of them at once, and none of it may be refused.
    max_connections_per_ip: int = 1024  # webhook requests in flight per client address; 0: no cap
    rate_per_key: float = 20.0  # sustained requests/s per webhook key; 0 turns the limit off
    burst_per_key: int = 200
    rate_per_ip: float = 50.0
    burst_per_ip: int = 2000
    # Refused attempts (unknown key, wrong passphrase, bad signature), limited on their own.
    failed_rate_per_ip: float = 0.2
    failed_burst_per_ip: int = 20
    failed_rate_per_key: float = 1.0
    failed_burst_per_key: int = 50
    # Addresses or networks; empty: every address may send. "tradingview" expands to its senders.
    ip_allowlist: StrList = Field(default_factory=list)
    trusted_proxies: StrList = Field(default_factory=list)  # only these may set X-Forwarded-For

    _split_lists = field_validator("ip_allowlist", "trusted_proxies", mode="before")(split_list)

    @field_validator("ip_allowlist", mode="after")
    @classmethod
    def _expand_tradingview(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for item in v:
            out.extend(TRADINGVIEW_SENDERS if item.lower() == "tradingview" else [item])
        return out
