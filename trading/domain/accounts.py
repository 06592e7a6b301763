"""Broker accounts: named, configured in an accounts file, referred to by bots.

Two accounts always exist, defined by the settings: `Herenya` (the `HERENYA_*` settings) and
`Paper` (`PAPER_*`). An accounts file adds more, one `[[accounts]]` table each. Secrets are
never part of an account: it names the environment variables that hold them, so neither
the file nor the database ever carries a key.

Errors name the account and the field, never a value that might be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trading.domain.values import BrokerName

# The accounts the settings define. Their names are taken: a file may not redefine them.
BUILT_IN: tuple[str, ...] = tuple(n.value for n in BrokerName)

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
KINDS = ("herenya", "paper", "ccxt")
_KIND_LIST = '"herenya", "paper" or "ccxt"'
# A ccxt exchange id: lower-case letters and digits (binanceusdm, bybit, okx, kucoinfutures).
_EXCHANGE = re.compile(r"^[a-z][a-z0-9]{1,31}$")
# Fields a person might write a secret into; the message says where the secret goes instead.
_SECRET_FIELDS = {
    "api_key": "api_key_env",
    "api_secret": "api_secret_env",
    "secret": "api_secret_env",
    "password": "api_secret_env",
}


class AccountConfigError(ValueError):
    """An account that cannot be used; `errors` holds "field: message" lines."""

    def __init__(self, name: str, errors: list[str]) -> None:
        self.name = name
        self.errors = errors
        super().__init__(f"account {name}: " + "; ".join(errors))


def check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must be 1 to 32 characters of letters, digits, '_', '-' or '.'")
    return value


def built_in_name(value: str) -> str | None:
    """`Herenya` or `Paper` when `value` is one of them in any case (as bots have always
    written them), else None."""
    return next((n for n in BUILT_IN if n.lower() == value.lower()), None)


def _env_name(v: str) -> str:
    # The value is not echoed: a secret pasted here by mistake stays out of the error.
    if not _ENV.match(v):
        raise ValueError("must be the name of an environment variable (letters, digits and '_'), not the secret itself")
    return v


class _Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str

    @field_validator("name")
    @classmethod
    def _name_shape(cls, v: str) -> str:
        check_name(v)
        if built_in_name(v) is not None:
            raise ValueError(f"{v!r} is the account the {v.upper()}_* settings define; choose another name")
        return v


class _ReachedOverHttp(_Account):
    """An account the desk calls over HTTP: how long one request may take and how often a
    retryable failure is tried again. Unset: the HERENYA_TIMEOUT and HERENYA_RETRY_ATTEMPTS
    settings, which the built-in account uses."""

    timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    retry_attempts: int | None = Field(default=None, ge=0, le=10)


class HerenyaAccount(_ReachedOverHttp):
    broker: Literal["herenya"] = "herenya"
    base_url: str
    account_id: str = Field(min_length=1, max_length=64)
    api_key_env: str
    api_secret_env: str

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// address, e.g. https://api.herenya.example")
        return v.rstrip("/")

    @field_validator("api_key_env", "api_secret_env")
    @classmethod
    def _env_names(cls, v: str) -> str:
        return _env_name(v)

    @property
    def secret_envs(self) -> tuple[str, ...]:
        return (self.api_key_env, self.api_secret_env)


class CcxtAccount(_ReachedOverHttp):
    """An exchange account reached through the ccxt library (brokers/ccxt/)."""

    broker: Literal["ccxt"] = "ccxt"
    exchange: str
    api_key_env: str
    api_secret_env: str
    password_env: str = ""
    sandbox: bool = False
    api_base_url: str = ""
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("exchange")
    @classmethod
    def _exchange_id(cls, v: str) -> str:
        if not _EXCHANGE.match(v):
            raise ValueError(f"must be a ccxt exchange id such as binanceusdm, bybit or okx, not {v!r}")
        return v

    @field_validator("api_key_env", "api_secret_env")
    @classmethod
    def _env_names(cls, v: str) -> str:
        return _env_name(v)

    @field_validator("password_env")
    @classmethod
    def _password_env(cls, v: str) -> str:
        return v if v == "" else _env_name(v)

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if v and not re.match(r"^https?://[^/\s]+/?$", v):
            raise ValueError(
                "must be a scheme and host (and port), e.g. https://testnet.example or http://127.0.0.1:8080"
            )
        return v.rstrip("/")

    @field_validator("options")
    @classmethod
    def _no_secret_options(cls, v: dict[str, Any]) -> dict[str, Any]:
        secret = sorted(k for k in v if k.lower() in {"apikey", "secret", "password", "uid", "privatekey"})
        if secret:
            raise ValueError(
                f"{', '.join(secret)}: secrets are never written in the accounts file; name the "
                "environment variables in api_key_env, api_secret_env and password_env"
            )
        return v

    @property
    def secret_envs(self) -> tuple[str, ...]:
        return (self.api_key_env, self.api_secret_env, *((self.password_env,) if self.password_env else ()))


class PaperAccount(_Account):
    broker: Literal["paper"] = "paper"
    currency: str
    starting_balance: Decimal = Field(gt=0)
    # Another account whose quotes and instruments the paper book fills against; none: the
    # paper broker's own quotes (only what an order's reference price says).
    quotes_from: str | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not _CURRENCY.match(v.upper()):
            raise ValueError(f"must be a three-letter currency code such as ZAR or USD, not {v!r}")
        return v.upper()

    @field_validator("quotes_from", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v


AccountConfig = HerenyaAccount | PaperAccount | CcxtAccount
_MODELS: dict[str, type[HerenyaAccount] | type[PaperAccount] | type[CcxtAccount]] = {
    "herenya": HerenyaAccount,
    "paper": PaperAccount,
    "ccxt": CcxtAccount,
}


def parse_account(table: Mapping[str, Any]) -> AccountConfig:
    """One `[[accounts]]` table validated; AccountConfigError naming each bad field."""
    name = str(table.get("name") or "<unnamed>")
    broker = table.get("broker")
    if broker is None:
        raise AccountConfigError(name, [f"broker: is required ({_KIND_LIST})"])
    kind = str(broker).lower()
    if kind not in KINDS:
        raise AccountConfigError(name, [f"broker: must be {_KIND_LIST}, not {broker!r}"])
    secret_lines = [
        f"{field}: secrets are never written in the accounts file; name the environment variable "
        f"that holds it in {instead}"
        for field, instead in _SECRET_FIELDS.items()
        if field in table
    ]
    model = _MODELS[kind]
    data = {k: v for k, v in table.items() if k not in _SECRET_FIELDS} | {"broker": kind}
    try:
        account = model.model_validate(data)
    except ValidationError as e:
        raise AccountConfigError(name, secret_lines + _field_errors(e)) from e
    if secret_lines:
        raise AccountConfigError(name, secret_lines)
    return account


def _field_errors(e: ValidationError) -> list[str]:
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "account"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "is required"
        lines.append(f"{loc}: {msg}")
    return lines


def cross_check(accounts: Iterable[AccountConfig], known: Iterable[AccountConfig] = ()) -> list[str]:
    """What is wrong between accounts (`accounts`: a file's; `known`: those already stored):
    names used twice (in any case) and `quotes_from` naming no Herenya account."""
    errors: list[str] = []
    mine = list(accounts)
    seen: dict[str, str] = {}
    for a in mine:
        other = seen.setdefault(a.name.lower(), a.name)
        if other != a.name or sum(1 for b in mine if b.name == a.name) > 1:
            line = f"account {a.name}: name: appears more than once in the file (names are compared in any case)"
            if line not in errors:
                errors.append(line)
    by_name = {a.name: a for a in known} | {a.name: a for a in mine}
    for a in mine:
        if not isinstance(a, PaperAccount) or a.quotes_from is None:
            continue
        source = a.quotes_from
        if source == a.name:
            errors.append(f"account {a.name}: quotes_from: names the account itself")
        elif built_in_name(source) == "Herenya":
            continue
        elif source not in by_name:
            known_names = ", ".join(sorted(by_name)) or "none"
            errors.append(f"account {a.name}: quotes_from: no account named {source!r} (the accounts: {known_names})")
        elif not isinstance(by_name[source], HerenyaAccount):
            errors.append(
                f"account {a.name}: quotes_from: {source!r} is a {by_name[source].broker} account; name a herenya one"
            )
    return errors


def no_such_account(name: str, known: Iterable[str]) -> str | None:
    """None when `name` is configured; else what to say (with the right spelling when only
    the case differs, or the accounts there are)."""
    known = list(known)
    if name in known:
        return None
    near = next((k for k in known if k.lower() == name.lower()), None)
    hint = f"; did you mean {near!r}?" if near else f" (the accounts: {', '.join(sorted(known))})"
    return f"no account named {name!r}{hint}"


def unknown_accounts(bot_name: str, field: str, names: Iterable[str], known: Iterable[str]) -> list[str]:
    """A bot's account names that are not configured, one error line each, naming the bot,
    the field and the account."""
    known = list(known)
    return [f"bot {bot_name}: {field}: {why}" for name in names if (why := no_such_account(name, known))]


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account as the list shows it: what it is, never a secret."""

    name: str
    broker: str  # "herenya" | "paper" | "ccxt"
    source: str  # "settings" (Herenya, Paper) or "file"
    currency: str | None  # a paper account's; a Herenya account's is known once it is reached
    where: str  # base URL and account id, or the paper book


def summary(account: AccountConfig) -> AccountSummary:
    if isinstance(account, CcxtAccount):
        where = account.exchange + (" sandbox" if account.sandbox else "")
        if account.api_base_url:
            where += f" at {account.api_base_url}"
        return AccountSummary(account.name, "ccxt", "file", None, where)
    if isinstance(account, HerenyaAccount):
        return AccountSummary(account.name, "herenya", "file", None, f"{account.base_url} account {account.account_id}")
    quotes = f", quotes from {account.quotes_from}" if account.quotes_from else ""
    return AccountSummary(
        account.name, "paper", "file", account.currency, f"paper book from {account.starting_balance}{quotes}"
    )


def stored_settings(account: AccountConfig) -> dict[str, Any]:
    """What the database keeps of an account besides its name and kind (no secret is in it:
    only the names of the variables holding them)."""
    return account.model_dump(mode="json", exclude={"name", "broker"}, exclude_none=True)
