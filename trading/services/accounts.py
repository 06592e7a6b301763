"""How an account is doing: reached through its broker, with its balance and positions.

Used by `signaldesk accounts check`, `GET /api/accounts` and the web desk's Accounts page.
A broker that cannot be built (a missing setting or variable) or does not answer in time
is reported as unreachable with the reason; nothing here raises for one account's sake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from trading.domain.accounts import AccountSummary
from trading.domain.market import Account, BrokerPosition
from trading.services.ports import Broker


@dataclass(frozen=True, slots=True)
class AccountStatus:
    summary: AccountSummary
    reachable: bool | None  # None: not tried (an account that is not configured)
    account: Account | None = None  # balance, equity, currency, when reached
    positions: tuple[BrokerPosition, ...] = ()
    problem: str | None = None  # why it was not reached; never a secret

    @property
    def currency(self) -> str | None:
        return self.account.currency if self.account is not None else self.summary.currency


async def check_account(
    summary: AccountSummary, broker_for: Callable[[str], Broker], *, seconds: float = 5.0
) -> AccountStatus:
    """One authenticated read of the account and its positions, bounded by `timeout`."""
    try:
        broker = broker_for(summary.name)
        async with asyncio.timeout(seconds):
            account = await broker.get_account()
            positions = await broker.get_positions()
    except TimeoutError:
        return AccountStatus(summary, False, problem=f"no answer within {seconds:g} s")
    except Exception as e:
        # The broker errors carry the broker's code and message; anything else only its kind.
        return AccountStatus(summary, False, problem=str(e) or type(e).__name__)
    held = tuple(p for p in positions if p.quantity != 0)
    return AccountStatus(summary, True, account, held)


async def check_accounts(
    summaries: Sequence[AccountSummary],
    broker_for: Callable[[str], Broker],
    *,
    seconds: float = 5.0,
    unconfigured: Mapping[str, str] | None = None,
) -> list[AccountStatus]:
    """Every account at once, in the order given; those in `unconfigured` (name: why) are
    not tried."""
    skip = unconfigured or {}

    async def one(s: AccountSummary) -> AccountStatus:
        if s.name in skip:
            return AccountStatus(s, None, problem=skip[s.name])
        return await check_account(s, broker_for, seconds=seconds)

    return list(await asyncio.gather(*(one(s) for s in summaries)))
