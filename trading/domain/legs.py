"""One alert, one leg per account: a bot on several accounts trades each on its own.

An alert for a bot with `accounts = ["main", "prop"]` is stored as one signal per account
(a leg), each carrying its account in `Signal.account`; each leg has its own position,
orders, stops and targets, P&L and daily-loss cap, exactly as a one-account bot's signal
has. `on_account` is the bot as one leg sees it: that account, that account's symbol. An
alert may name a subset (`"accounts": ["prop"]`); `legs_of` refuses one that is not the bot's.

`account_sizes` scales the bot's quantity on an account: rounded down to the instrument's
step and clamped to its minimum and maximum, with a note when it was trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from trading.domain import display
from trading.domain.config import BotConfig
from trading.domain.market import Instrument
from trading.domain.records import Bot, SignalEdits
from trading.domain.signals import Signal, SignalSource


class NotTheBotsAccount(ValueError):
    """An alert naming an account the bot does not trade on."""


def account_of(signal: Signal, config: BotConfig) -> str:
    """The account a stored signal is a leg on (a signal stored before legs: the bot's first)."""
    return signal.account or config.broker_account


def on_account(bot: Bot, account: str) -> Bot:
    """The bot as its leg on `account` trades: `broker_account` that account and `symbol`
    its symbol there; the chart's ticker stays the bot's (alerts are judged against it).
    The rest is kept (`accounts` says it is one leg of several; `size_on` its size)."""
    config = bot.config
    if config.broker_account == account and config.symbol == config.symbol_on(account):
        return bot
    leg = config.model_copy(
        update={"broker_account": account, "symbol": config.symbol_on(account), "tradingview_ticker": config.ticker}
    )
    return replace(bot, config=leg)


def legs_of(config: BotConfig, signal: Signal) -> list[Signal]:
    """The signal once per account it is for: every account of the bot, or the alert's
    subset (in the bot's order). A one-account bot's signal is kept as it is, account unset.
    NotTheBotsAccount naming an account the alert asks for that the bot does not trade on."""
    mine = config.account_names
    wanted = signal.accounts
    if wanted is not None:
        lower = {a.lower(): a for a in mine}
        strangers = [a for a in wanted if a.lower() not in lower]
        if strangers:
            listed = ", ".join(repr(a) for a in strangers)
            raise NotTheBotsAccount(
                f"the alert's accounts name {listed}, which {'is' if len(strangers) == 1 else 'are'} not among "
                f"bot {config.bot_name}'s accounts ({', '.join(mine)})"
            )
        chosen = {lower[a.lower()] for a in wanted}
        names = [a for a in mine if a in chosen]
    else:
        names = list(mine)
    if config.accounts is None:
        return [signal if signal.accounts is None else replace(signal, accounts=None)]
    return [replace(signal, account=name, accounts=None) for name in names]


def sized_on_account(
    signal: Signal, config: BotConfig, instrument: Instrument, edits: SignalEdits | None
) -> tuple[Signal, str | None]:
    """An entry's quantity on a leg whose account scales it (`config` the leg's, as
    `on_account` gives it), with the note when it was trimmed. A quantity a person typed (an
    approver's edit, an order of their own), or one sized by risk from the account's own
    equity, is not scaled."""
    factor = config.size_on(config.broker_account)
    if (
        factor == 1
        or not signal.action.is_entry
        or config.risk_per_trade_pct is not None
        or (edits is not None and edits.quantity is not None)
        or signal.source is SignalSource.MANUAL
    ):
        return signal, None
    sized = scale(signal.quantity or config.base_position_size, factor, instrument, config.broker_account)
    return replace(signal, quantity=sized.quantity), sized.note


@dataclass(frozen=True, slots=True)
class Scaled:
    quantity: Decimal
    note: str | None  # said when the scaled quantity was rounded or clamped


def scale(quantity: Decimal, factor: Decimal, instrument: Instrument, account: str) -> Scaled:
    """`quantity` times the account's `factor`, rounded down to the instrument's step and
    clamped to its minimum and maximum."""
    if factor == 1:
        return Scaled(quantity, None)
    exact = quantity * factor
    whole = instrument.round_down(exact)
    clamped = min(max(whole, instrument.min_quantity), instrument.round_down(instrument.max_quantity))
    if clamped == exact:
        return Scaled(clamped, None)
    why = (
        f"below {instrument.symbol}'s minimum of {instrument.min_quantity}"
        if whole < instrument.min_quantity
        else f"above {instrument.symbol}'s maximum of {instrument.max_quantity}"
        if whole > instrument.max_quantity
        else f"rounded down to {instrument.symbol}'s step of {instrument.quantity_step}"
    )
    return Scaled(
        clamped,
        f"account {account}: {quantity} × {display.number(factor)} = {display.number(exact)}, {why}: {clamped}",
    )
