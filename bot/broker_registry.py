"""One broker object per account name, built on first use, closed at shutdown.

`Herenya` and `Paper` are built from the HERENYA_* and PAPER_* settings, as they always
were; every other name is an account of an accounts file, read from the database by
`load()` at start-up. A file account's secrets are read from the environment variables it
names (or the `.env` file, as the settings are), never from the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.settings import Settings
from brokers.errors import BrokerConfigError
from db.database import Database
from trading.domain.accounts import (
    AccountConfig,
    AccountSummary,
    CcxtAccount,
    HerenyaAccount,
    PaperAccount,
    built_in_name,
    summary,
)
from trading.services.accounts import AccountStatus, check_accounts
from trading.services.ports import Broker

log = logging.getLogger("signaldesk.brokers")


def read_environment(names: Iterable[str], env_file: str | Path = ".env") -> dict[str, str]:
    """The values of `names`: the process environment first, then the `.env` file the
    settings read too. Names without a value are left out. Reads a file: call it off the
    event loop."""
    wanted = set(names)
    found = {n: os.environ[n] for n in wanted if os.environ.get(n)}
    path = Path(env_file)
    if wanted - set(found) and path.is_file():
        from dotenv import dotenv_values

        values = dotenv_values(path)
        found |= {n: v for n in wanted - set(found) if (v := values.get(n))}
    return found


def missing_secrets(account: HerenyaAccount | CcxtAccount, environment: Mapping[str, str]) -> BrokerConfigError | None:
    """The error naming the account and the unset variables (never a value), or None."""
    unset = [env for env in account.secret_envs if not environment.get(env)]
    if not unset:
        return None
    which = (
        f"environment variable {unset[0]} is not set"
        if len(unset) == 1
        else f"environment variables {' and '.join(unset)} are not set"
    )
    fields = "api_key_env, api_secret_env" + (
        ", password_env" if isinstance(account, CcxtAccount) and account.password_env else ""
    )
    return BrokerConfigError(
        "CONFIG",
        f"account {account.name}: {which} ({fields}: its key and secret)",
        broker=account.name if isinstance(account, CcxtAccount) else "Herenya",
    )


class BrokerRegistry:
    def __init__(self, settings: Settings, database: Database) -> None:
        self._settings = settings
        self._database = database
        self._brokers: dict[str, Broker] = {}
        self._accounts: dict[str, AccountConfig] = {}
        self._environment: dict[str, str] = {}

    async def load(self) -> list[AccountConfig]:
        """Read the stored accounts and their secrets' variables (at start-up; an account
        imported later is used after the next start)."""
        async with self._database.uow(read_only=True) as uow:
            accounts = await uow.accounts.list()
        names = [env for a in accounts if isinstance(a, HerenyaAccount | CcxtAccount) for env in a.secret_envs]
        self._environment = await asyncio.to_thread(read_environment, names)
        self._accounts = {a.name: a for a in accounts}
        return accounts

    @property
    def accounts(self) -> dict[str, AccountConfig]:
        """The file accounts `load()` read, by name."""
        return dict(self._accounts)

    @property
    def herenya_configured(self) -> bool:
        return bool(self._settings.herenya_base_url)

    def unconfigured(self) -> dict[str, str]:
        """The settings' accounts that are not set up (name: why): listed, never tried."""
        return {} if self.herenya_configured else {"Herenya": "not configured (HERENYA_BASE_URL unset)"}

    async def statuses(self, seconds: float = 3.0) -> list[AccountStatus]:
        """Every account, reached at once (GET /api/accounts, the Accounts page)."""
        return await check_accounts(self.summaries(), self, seconds=seconds, unconfigured=self.unconfigured())

    def summaries(self) -> list[AccountSummary]:
        """Every account, the settings' two first: what it is, never a secret."""
        s = self._settings
        herenya = (
            f"{s.herenya_base_url} account {s.herenya_account_id or '(HERENYA_ACCOUNT_ID unset)'}"
            if s.herenya_base_url
            else "not configured (HERENYA_BASE_URL unset)"
        )
        quotes = ", quotes from Herenya" if s.herenya_base_url else ""
        paper = f"paper book {s.paper_account_id} from {s.paper_starting_balance}{quotes}"
        return [
            AccountSummary("Herenya", "herenya", "settings", None, herenya),
            AccountSummary("Paper", "paper", "settings", s.paper_currency, paper),
            *(summary(a) for a in sorted(self._accounts.values(), key=lambda a: a.name.lower())),
        ]

    def __call__(self, name: str) -> Broker:
        broker = self._brokers.get(name)
        if broker is None:
            broker = self._build(name)
            self._brokers[name] = broker
        return broker

    def _build(self, name: str) -> Broker:
        built_in = built_in_name(name)
        if built_in == "Herenya":
            return self._herenya_from_settings()
        if built_in == "Paper":
            return self._paper_from_settings()
        account = self._accounts.get(name)
        if account is None:
            known = ", ".join(["Herenya", "Paper", *sorted(self._accounts)])
            raise BrokerConfigError(
                "CONFIG", f"no account named {name!r} (the accounts: {known}); import it from an accounts file"
            )
        if isinstance(account, HerenyaAccount):
            return self._herenya(account)
        if isinstance(account, CcxtAccount):
            return self._ccxt(account)
        return self._paper(account)

    def _herenya_from_settings(self) -> Broker:
        from brokers.herenya.client import HerenyaClient

        s = self._settings
        return HerenyaClient.from_settings(
            api_key=s.herenya_api_key,
            api_secret=s.herenya_api_secret,
            base_url=s.herenya_base_url,
            account_id=s.herenya_account_id,
            timeout=s.herenya_timeout,
            retry_attempts=s.herenya_retry_attempts,
        )

    def _paper_from_settings(self) -> Broker:
        from brokers.paper import PaperBroker

        s = self._settings
        quotes = self("Herenya") if s.herenya_base_url else None
        return PaperBroker.with_unit_of_work(
            self._database.uow,
            account_id=s.paper_account_id,
            currency=s.paper_currency,
            starting_balance=s.paper_starting_balance,
            quote_source=quotes,
            instrument_source=quotes,
            clock=self._database.clock.now,
        )

    def _herenya(self, account: HerenyaAccount) -> Broker:
        from brokers.herenya.client import HerenyaClient

        problem = missing_secrets(account, self._environment)
        if problem is not None:
            raise problem
        return HerenyaClient(
            api_key=self._environment[account.api_key_env],
            api_secret=self._environment[account.api_secret_env],
            base_url=account.base_url,
            account_id=account.account_id,
            timeout=self._timeout(account),
            retry_attempts=self._retry_attempts(account),
        )

    def _ccxt(self, account: CcxtAccount) -> Broker:
        # ccxt is big: imported only when an account of its kind is built.
        from brokers.ccxt.client import CcxtBroker

        problem = missing_secrets(account, self._environment)
        if problem is not None:
            raise problem
        return CcxtBroker.for_account(
            account,
            self._environment,
            timeout=self._timeout(account),
            retry_attempts=self._retry_attempts(account),
        )

    def _timeout(self, account: HerenyaAccount | CcxtAccount) -> float:
        return self._settings.herenya_timeout if account.timeout_seconds is None else account.timeout_seconds

    def _retry_attempts(self, account: HerenyaAccount | CcxtAccount) -> int:
        if account.retry_attempts is None:
            return self._settings.herenya_retry_attempts
        return account.retry_attempts

    def _paper(self, account: PaperAccount) -> Broker:
        from brokers.paper import PaperBroker

        quotes = self(account.quotes_from) if account.quotes_from else None
        return PaperBroker.with_unit_of_work(
            self._database.uow,
            # The paper book is kept under the account's name.
            account_id=account.name,
            currency=account.currency,
            starting_balance=account.starting_balance,
            quote_source=quotes,
            instrument_source=quotes,
            clock=self._database.clock.now,
        )

    @property
    def built(self) -> dict[str, Broker]:
        return dict(self._brokers)

    async def aclose(self) -> None:
        for broker in self._brokers.values():
            try:
                await broker.aclose()
            except Exception as e:
                log.warning("closing broker %s: %r", broker.name, e)
