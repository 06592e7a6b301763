"""The bots file (TOML, one [[bots]] table a bot): read and validated, then imported into the
database, all of it or nothing. `signaldesk bots import` and `serve`'s BOTS_FILE both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.accounts_file import account_names, fractional_sizes, unknown_bot_accounts, whole_contract_accounts
from bot.toml_file import read_toml
from db.database import Database
from db.errors import WebhookKeyInUse
from trading.domain.config import BotConfig, BotConfigError
from trading.domain.credentials import Passphrases, key_hash, key_hint
from trading.domain.records import AuditEntry, Bot


class BotsFileError(ValueError):
    """A bots file that cannot be imported; `lines` says what is wrong, one problem a line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_bots_file(path: str | Path, accounts: list[str] | None = None) -> list[BotConfig]:
    """Read and validate every [[bots]] table; BotsFileError naming each bad bot and field
    (with `accounts`, the configured account names, each bot's `accounts` list too)."""
    path = Path(path)
    data = read_toml(path, BotsFileError)
    tables = data.get("bots")
    if not isinstance(tables, list) or not tables:
        raise BotsFileError([f"{path}: no [[bots]] tables found"])
    configs: list[BotConfig] = []
    errors: list[str] = []
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            errors.append(f"bots entry {index}: must be a table ([[bots]])")
            continue
        try:
            configs.append(BotConfig.parse(table, accounts=accounts))
        except BotConfigError as e:
            name = e.bot_name if "bot_name" in table else f"#{index} (no bot_name)"
            errors.extend(f"bot {name}: {line}" for line in e.errors)
    errors.extend(_clashes(configs))
    if errors:
        raise BotsFileError(errors)
    return configs


def _clashes(configs: list[BotConfig]) -> list[str]:
    errors: list[str] = []
    names: set[str] = set()
    keys: dict[str, str] = {}
    for c in configs:
        if c.bot_name in names:
            errors.append(f"bot {c.bot_name}: bot_name: appears more than once in the file")
        names.add(c.bot_name)
        other = keys.setdefault(c.webhook_key, c.bot_name)
        if other != c.bot_name:
            errors.append(f"bot {c.bot_name}: webhook_key: is also the key of bot {other}; every bot needs its own")
    return errors


def _unchanged(existing: Bot, config: BotConfig, passphrases: Passphrases | None) -> bool:
    masked = config.model_copy(
        update={"webhook_key": key_hint(config.webhook_key), "passphrase": None, "signing_secret": None}
    )
    if config.passphrase:
        # A hash of the old kind (or a database handle without the key) counts as changed:
        # the import stores it hashed with the server's secret key.
        same_passphrase = passphrases is not None and passphrases.hash(config.bot_name, config.passphrase) == (
            existing.passphrase_hash
        )
    else:
        same_passphrase = existing.passphrase_hash is None
    return (
        masked == existing.config
        and key_hash(config.webhook_key) == existing.webhook_key_hash
        and same_passphrase
        and config.signing_secret == existing.signing_secret
    )


@dataclass(frozen=True, slots=True)
class ImportResult:
    bot_name: str
    outcome: str  # "created", "updated", "unchanged"


async def import_bots(database: Database, configs: list[BotConfig], *, actor: str = "cli") -> list[ImportResult]:
    """Create or update every bot in one transaction: all of them or none."""
    unknown = unknown_bot_accounts(configs, await account_names(database))
    if unknown:
        raise BotsFileError(unknown)
    fractional = fractional_sizes(configs, await whole_contract_accounts(database))
    if fractional:
        raise BotsFileError(fractional)
    results: list[ImportResult] = []
    async with database.uow() as uow:
        for config in configs:
            existing = await uow.bots.get_by_name(config.bot_name)
            if existing is not None and _unchanged(existing, config, database.passphrases):
                results.append(ImportResult(config.bot_name, "unchanged"))
                continue
            try:
                await uow.bots.upsert(config)
            except WebhookKeyInUse as e:
                raise BotsFileError([str(e).replace(": webhook_key is", ": webhook_key: is", 1)]) from e
            outcome = "created" if existing is None else "updated"
            results.append(ImportResult(config.bot_name, outcome))
            await uow.audit.add(AuditEntry(actor, "bots import", f"bot:{config.bot_name}", True, outcome))
        await uow.commit()
    return results
