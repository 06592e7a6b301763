"""accounts: the named broker accounts of accounts files, without secrets."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from db.models import AccountRow, table_of
from db.repositories.base import Repository
from trading.domain.accounts import AccountConfig, parse_account, stored_settings

ACCOUNTS = table_of(AccountRow)


def _account(row: Any) -> AccountConfig:
    # Validated again on the way out: a stored row obeys today's rules or says why not.
    return parse_account({**row.settings, "name": row.name, "broker": row.broker})


class SqlAccountRepository(Repository):
    async def list(self) -> builtins.list[AccountConfig]:
        rows = await self._uow.execute(select(ACCOUNTS).order_by(ACCOUNTS.c.name))
        return [_account(r) for r in rows]

    async def get(self, name: str) -> AccountConfig | None:
        row = (await self._uow.execute(select(ACCOUNTS).where(ACCOUNTS.c.name == name))).first()
        return _account(row) if row is not None else None

    async def upsert(self, account: AccountConfig) -> str:
        """Create or update by name: "created", "updated" or "unchanged"."""
        existing = await self.get(account.name)
        if existing == account:
            return "unchanged"
        now = self._now()
        values = {"broker": account.broker, "settings": stored_settings(account), "updated_at": now}
        if existing is None:
            await self._uow.execute(ACCOUNTS.insert().values(name=account.name, created_at=now, **values))
            return "created"
        await self._uow.execute(ACCOUNTS.update().where(ACCOUNTS.c.name == account.name).values(**values))
        return "updated"
