"""The accounts file (`ACCOUNTS_FILE`, `signaldesk accounts import FILE`): one `[[accounts]]`
table per broker account, read, checked and stored all or nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from bot.toml_file import read_toml
from db.database import Database
from trading.domain.accounts import (
    BUILT_IN,
    AccountConfig,
    AccountConfigError,
    cross_check,
    parse_account,
    unknown_accounts,
)
from trading.domain.config import BotConfig, fractions_on_whole_contracts
from trading.domain.records import AuditEntry


class AccountsFileError(ValueError):
    """An accounts file that cannot be used; `lines` says what is wrong, one problem a line,
    each naming the file."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def read_accounts_file(path: str | Path) -> list[AccountConfig]:
    """Read and validate every [[accounts]] table (reads the disk: off the event loop)."""
    path = Path(path)
    data = read_toml(path, AccountsFileError)
    unknown = sorted(set(data) - {"accounts"})
    tables = data.get("accounts")
    if not isinstance(tables, list) or not tables:
        raise AccountsFileError([f"{path}: no [[accounts]] tables found"])
    errors = [f"{path}: {key}: unknown table or key (an accounts file holds [[accounts]] tables)" for key in unknown]
    accounts: list[AccountConfig] = []
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            errors.append(f"{path}: accounts entry {index}: must be a table ([[accounts]])")
            continue
        try:
            accounts.append(parse_account(table))
        except AccountConfigError as e:
            name = e.name if table.get("name") else f"#{index} (no name)"
            errors.extend(f"{path}: account {name}: {line}" for line in e.errors)
    if errors:
        raise AccountsFileError(errors)
    return accounts


async def load_accounts_file(path: str | Path) -> list[AccountConfig]:
    return await asyncio.to_thread(read_accounts_file, path)


@dataclass(frozen=True, slots=True)
class AccountImport:
    name: str
    outcome: str  # "created", "updated", "unchanged"


async def import_accounts(
    database: Database, path: str | Path, accounts: list[AccountConfig], *, actor: str = "cli"
) -> list[AccountImport]:
    """Create or update every account in one transaction: all of them or none."""
    results: list[AccountImport] = []
    async with database.uow() as uow:
        stored = await uow.accounts.list()
        problems = cross_check(accounts, stored)
        clash = {a.name.lower(): a.name for a in stored}
        for a in accounts:
            other = clash.get(a.name.lower())
            if other is not None and other != a.name:
                problems.append(f"account {a.name}: name: differs only in case from the stored account {other}")
        if problems:
            raise AccountsFileError([f"{path}: {line}" for line in problems])
        for account in accounts:
            outcome = await uow.accounts.upsert(account)
            results.append(AccountImport(account.name, outcome))
            if outcome != "unchanged":
                await uow.audit.add(AuditEntry(actor, "accounts import", f"account:{account.name}", True, outcome))
        await uow.commit()
    return results


async def account_names(database: Database) -> list[str]:
    """Every account a bot may name: Herenya, Paper and the stored ones."""
    async with database.uow(read_only=True) as uow:
        return [*BUILT_IN, *(a.name for a in await uow.accounts.list())]


async def whole_contract_accounts(database: Database) -> set[str]:
    """The accounts that trade whole contracts: Herenya, Paper and the stored herenya and
    paper ones (an exchange account trades the exchange's fractions)."""
    async with database.uow(read_only=True) as uow:
        return {*BUILT_IN, *(a.name for a in await uow.accounts.list() if a.broker != "ccxt")}


def fractional_sizes(configs: list[BotConfig], whole: set[str]) -> list[str]:
    """One line per bot whose base_position_size is a fraction on a whole-contract account."""
    return [line for c in configs for line in fractions_on_whole_contracts(c, whole)]


def unknown_bot_accounts(configs: list[BotConfig], known: list[str]) -> list[str]:
    """One line per bot account that is not configured, naming the bot, the field it was
    written in and the account."""
    lines: list[str] = []
    for c in configs:
        field = "accounts" if "accounts" in c.model_fields_set else "broker_account"
        lines.extend(unknown_accounts(c.bot_name, field, c.account_names, known))
    return lines
