"""A person's own order (Discord /order, POST /api/orders): checked by the same rules as an
alert's fields, then made into a signal of source `manual` that the same engine plans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trading.domain import quantities
from trading.domain.levels import level_problem, price_problem
from trading.domain.market import Instrument, Quote
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalSource
from trading.domain.values import OrderSide, OrderType


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """What a person asks for: buy is a long entry, sell a short one, planned by the engine
    against the bot's position (flat: open; same side: add a level; other side: close and
    reverse when the bot exits on an opposite signal)."""

    bot: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    @property
    def action(self) -> SignalAction:
        return SignalAction.enter(self.side.opens)

    def describe(self) -> str:
        how = f"limit {self.limit_price}" if self.order_type is OrderType.LIMIT else "market"
        levels = "".join(
            f", {name} {value}"
            for name, value in (("stop", self.stop_loss), ("target", self.take_profit))
            if value is not None
        )
        return f"{self.side.value} {self.quantity} {how}{levels}"


def ticket_problem(
    ticket: OrderTicket, instrument: Instrument, quote: Quote | None, account: str = ""
) -> tuple[str, str] | None:
    """(field, what is wrong) with a ticket, by the rules an alert's and an edit's fields
    obey (levels.level_problem / price_problem); None when it may be planned. `account`
    names the account in the refusal of a fraction on a whole-contract instrument."""
    if ticket.quantity <= 0:
        return "quantity", f"quantity must be above 0 (got {ticket.quantity})"
    if instrument.whole_contracts and (
        fraction := quantities.whole_contracts_refusal(ticket.quantity, instrument.symbol, account or "this account")
    ):
        return "quantity", fraction
    if ticket.quantity > instrument.max_quantity:
        return "quantity", (
            f"quantity {ticket.quantity} is over {instrument.symbol}'s maximum of {instrument.max_quantity} contracts"
        )
    if ticket.order_type is OrderType.LIMIT and ticket.limit_price is None:
        return "limit_price", "a limit order needs a limit_price"
    if ticket.order_type is OrderType.MARKET and ticket.limit_price is not None:
        return "limit_price", "limit_price goes with type limit; a market order takes none"
    reference = quote.last if quote is not None else None
    if ticket.limit_price is not None:
        problem = price_problem("limit_price", ticket.limit_price, instrument.tick_size, reference)
        if problem is not None:
            return "limit_price", problem
    for name, value in (("stop_loss", ticket.stop_loss), ("take_profit", ticket.take_profit)):
        # Stops and targets are watched here, not sent: they need not sit on the tick.
        problem = price_problem(name, value, None, reference) if value is not None else None
        if problem is not None:
            return name, problem
    entry = ticket_price(ticket, quote)
    if entry is None:
        return "type", f"no quote for {instrument.symbol} now: a market order needs one; try a limit order"
    return level_problem(ticket.side.opens, entry, ticket.stop_loss, ticket.take_profit)


def ticket_price(ticket: OrderTicket, quote: Quote | None) -> Decimal | None:
    """The price the ticket's entry would be made at: its limit, or what the quote pays now."""
    if ticket.limit_price is not None:
        return ticket.limit_price
    return quote.price_for(ticket.side) if quote is not None else None


def ticket_signal(ticket: OrderTicket, price: Decimal, now: datetime, by: str, ticker: str | None) -> Signal:
    """The signal a checked ticket becomes (source manual), priced at `price`."""
    return Signal(
        action=ticket.action,
        price=price,
        shape=AlertShape.ORDER_MESSAGE,
        time=now,
        ticker=ticker,
        quantity=ticket.quantity,
        stop_loss=ticket.stop_loss,
        take_profit=ticket.take_profit,
        order_type=ticket.order_type,
        message=f"order by {by}: {ticket.describe()}",
        source=SignalSource.MANUAL,
    )
