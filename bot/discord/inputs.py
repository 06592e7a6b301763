"""What users type, parsed into domain values with errors worded for an ephemeral reply."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from trading.domain import inputs
from trading.domain.inputs import TYPED, InputError
from trading.domain.manual import OrderTicket
from trading.domain.records import SignalEdits

PERIODS = ("today", "week", "month", "all")


def sentence(error: InputError) -> str:
    """The domain's message as a sentence for an ephemeral reply."""
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."


def parse_order(
    bot: str,
    side: str,
    quantity: str | int,
    order_type: str,
    limit_price: str | None,
    stop: str | None,
    target: str | None,
) -> OrderTicket:
    """/order's options as a ticket, by the domain's rules (trading/domain/inputs.py)."""
    try:
        return inputs.parse_order(TYPED, bot, side, quantity, order_type, limit_price, stop, target)
    except InputError as e:
        raise InputError(sentence(e)) from None


def parse_edits(quantity: str, order_type: str, limit_price: str, stop_loss: str, take_profit: str) -> SignalEdits:
    """The Edit modal's five boxes as SignalEdits, by the domain's rules (trading/domain/inputs.py).
    An empty box leaves that value as the card has it (SignalEdits cannot say "remove the
    stop", so empty never means that)."""
    try:
        return inputs.parse_edits(TYPED, quantity, order_type, limit_price, stop_loss, take_profit)
    except InputError as e:
        raise InputError(sentence(e)) from None


def parse_account_quantities(text: str, accounts: tuple[str, ...]) -> dict[str, Decimal]:
    """The Edit modal's quantity box on the card of an alert on several accounts:
    "main=1 prop=3" (spaces or commas between), each a quantity (`0.01` on an exchange), each
    account one of `accounts`; a blank box changes none."""
    found: dict[str, Decimal] = {}
    named = {a.lower(): a for a in accounts}
    for pair in text.replace(",", " ").split():
        account, sep, value = pair.partition("=")
        if not sep or account.lower() not in named:
            raise InputError(
                f"Quantity: write each account's as account=contracts ({' '.join(f'{a}=1' for a in accounts)}), "
                f"not {pair[:40]!r}."
            )
        try:
            quantity = inputs.parse_quantity(TYPED, value)
        except InputError as e:
            raise InputError(f"Quantity on {named[account.lower()]}: {sentence(e)}") from None
        if quantity is not None:
            found[named[account.lower()]] = quantity
    return found


def period_start(period: str, now: datetime) -> tuple[datetime | None, str]:
    """Where a /pnl period begins (UTC calendar boundaries) and how to name it."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        return midnight, "today"
    if period == "week":
        return midnight - timedelta(days=midnight.weekday()), "this week"
    if period == "month":
        return midnight.replace(day=1), "this month"
    if period == "all":
        return None, "all time"
    raise InputError(f"Period must be one of {', '.join(PERIODS)}, not {period!r}.")
