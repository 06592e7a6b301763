"""Events the service records; a dispatcher hands them to the sinks after the commit."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

from trading.domain import display, quantities
from trading.domain.records import TradeRecord


class Severity(StrEnum):
    INFO = "info"  # goes to the log channel
    ERROR = "error"  # goes to the error channel (and mentions the error role)


@dataclass(frozen=True, kw_only=True)
class Event:
    at: datetime
    bot_name: str | None = None
    signal_id: int | None = None
    severity: Severity = Severity.INFO
    # The live feed's number, once the event is stored (in the transaction of the change it
    # tells of: the unit of work's `emit`); None before.
    seq: int | None = field(default=None, compare=False)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def text(self) -> str:
        return self.kind


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(Event):
    expires_at: datetime

    def text(self) -> str:
        return f"signal #{self.signal_id} for {self.bot_name} awaits approval until {self.expires_at:%H:%M:%S} UTC"


@dataclass(frozen=True, kw_only=True)
class ApprovalDecided(Event):
    decision: str  # approved / rejected / expired
    by: str
    reason: str | None = None  # the approver's, when they gave one (a reject's)

    def text(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"signal #{self.signal_id} for {self.bot_name} {self.decision} by {self.by}{why}"


@dataclass(frozen=True, kw_only=True)
class ApprovalProgress(Event):
    """The first of two approvals a card needs: it still waits for a second, different approver."""

    by: str
    approvals: int = 1
    needed: int = 2

    def text(self) -> str:
        return (
            f"signal #{self.signal_id} for {self.bot_name} approved {self.approvals} of {self.needed} by {self.by}; "
            "waiting for a second approver"
        )


@dataclass(frozen=True, kw_only=True)
class ApprovalReminder(Event):
    """A card half way to its expiry with no decision: the approvers are called again (once)."""

    expires_at: datetime

    def text(self) -> str:
        return (
            f"signal #{self.signal_id} for {self.bot_name} still awaits approval; "
            f"it expires at {self.expires_at:%H:%M:%S} UTC"
        )


@dataclass(frozen=True, kw_only=True)
class DeskStarted(Event):
    """The process is up: what it runs with (never a secret, never a password)."""

    version: str
    bots: tuple[str, ...]  # "SA40_RSI_Bot (approve)", ...
    brokers: tuple[str, ...]
    database: str  # "sqlite (./signaldesk.db)", "postgresql (desk on db.internal:5432)"
    resumed: int = 0  # unfinished signals picked up again

    def text(self) -> str:
        bots = f"{len(self.bots)} bot{'s' if len(self.bots) != 1 else ''}"
        if self.bots:
            bots += ": " + ", ".join(self.bots)
        brokers = ", ".join(self.brokers) or "none"
        resumed = f"; {self.resumed} unfinished signal(s) resumed" if self.resumed else ""
        return f"signaldesk {self.version} started: {bots}; broker {brokers}; database {self.database}{resumed}"


@dataclass(frozen=True, kw_only=True)
class LeaderChanged(Event):
    """A process became the desk's leader: from now on it runs the duties that run once
    (Discord, the stop monitor, approval expiry, reconciliation, retention)."""

    process: str  # host:pid
    members: int  # processes on the database when it took over

    def text(self) -> str:
        others = self.members - 1
        return f"{self.process} leads the desk now ({others} other process{'es' if others != 1 else ''} running)"


@dataclass(frozen=True, kw_only=True)
class DeskStopping(Event):
    """The process is stopping: whether anything was left in flight."""

    unfinished: int  # signals queued or executing, picked up again at the next start
    awaiting_approval: int = 0

    def text(self) -> str:
        if self.unfinished:
            flight = f"{self.unfinished} signal(s) left in flight, resumed at the next start"
        else:
            flight = "nothing left in flight"
        waiting = f"; {self.awaiting_approval} card(s) still await approval" if self.awaiting_approval else ""
        return f"signaldesk stopping: {flight}{waiting}"


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    status: str

    def text(self) -> str:
        return f"order {self.client_order_id} {self.side} {display.quantity(self.quantity)} {self.symbol} for {self.bot_name}: {self.status}"


@dataclass(frozen=True, kw_only=True)
class OrderFilled(Event):
    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    tick_size: Decimal | None = None  # the instrument's, to show the price by

    def text(self) -> str:
        return (
            f"filled {self.side} {display.quantity(self.quantity)} {self.symbol} "
            f"@ {display.price(self.price, self.tick_size)} "
            f"({self.client_order_id}, {self.bot_name})"
        )


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    """A resting order signaldesk cancelled (its timeout, or a person); the signal is final."""

    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    filled_quantity: Decimal
    reason: str

    def text(self) -> str:
        return f"signal #{self.signal_id} for {self.bot_name}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class TradeClosed(Event):
    symbol: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    realized_pnl: Decimal
    currency: str = ""
    position_closed: bool = True
    tick_size: Decimal | None = None  # the instrument's, to show the average entry by

    def text(self) -> str:
        what = "closed" if self.position_closed else "reduced"
        entry, exit_ = display.price(self.entry_price, self.tick_size), display.price(self.exit_price, self.tick_size)
        return (
            f"{self.bot_name} {what} {self.side} {display.quantity(self.quantity)} {self.symbol} "
            f"{entry} → {exit_}: {display.money(self.realized_pnl, self.currency)}"
        )


def trade_closed(trade: TradeRecord, at: datetime, currency: str, tick: Decimal | None = None) -> TradeClosed:
    """The event of a trade history row just written."""
    return TradeClosed(
        at=at,
        bot_name=trade.bot_name,
        signal_id=trade.signal_id,
        symbol=trade.symbol,
        side=trade.side.value,
        quantity=trade.quantity,
        entry_price=trade.entry_price,
        exit_price=trade.exit_price,
        realized_pnl=trade.realized_pnl,
        currency=currency,
        position_closed=trade.position_closed,
        tick_size=tick,
    )


@dataclass(frozen=True, kw_only=True)
class StopMoved(Event):
    symbol: str
    stop_loss: Decimal | None
    take_profit: Decimal | None

    def text(self) -> str:
        stop = "no stop" if self.stop_loss is None else f"stop {display.price(self.stop_loss)}"
        target = "no target" if self.take_profit is None else f"target {display.price(self.take_profit)}"
        return f"{self.bot_name} {self.symbol}: {stop}, {target}"


@dataclass(frozen=True, kw_only=True)
class SignalIgnored(Event):
    reason: str

    def text(self) -> str:
        return f"signal #{self.signal_id} for {self.bot_name} ignored: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class SignalRefused(Event):
    reason: str
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return f"signal #{self.signal_id} for {self.bot_name} refused: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class ExecutionFailed(Event):
    reason: str
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return f"signal #{self.signal_id} for {self.bot_name} failed: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class PositionMismatch(Event):
    symbol: str
    ours: Decimal
    theirs: Decimal
    source: str  # "broker" or "alert"
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return (
            f"position mismatch on {self.bot_name} {self.symbol}: signaldesk holds {display.signed_quantity(self.ours)}, "
            f"the {self.source} says {display.signed_quantity(self.theirs)}"
        )


@dataclass(frozen=True, kw_only=True)
class BotStateChanged(Event):
    change: str  # "paused", "resumed", "mode auto", "needs attention", ...
    reason: str | None = None
    by: str = "signaldesk"

    def text(self) -> str:
        tail = f": {self.reason}" if self.reason else ""
        return f"{self.bot_name} {self.change} by {self.by}{tail}"


@dataclass(frozen=True, kw_only=True)
class HaltChanged(Event):
    halted: bool
    by: str
    reason: str | None = None
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return f"trading {'HALTED' if self.halted else 'resumed'} by {self.by}" + (
            f": {self.reason}" if self.reason else ""
        )


@dataclass(frozen=True, kw_only=True)
class Notice(Event):
    """Free text for anything else worth a line in a channel."""

    message: str
    extra: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.message


@dataclass(frozen=True, kw_only=True)
class ExitFailing(Event):
    """A stop or target close did not flatten the position; it is tried again."""

    symbol: str
    trigger: str  # what started the exit
    failures: int  # tries that failed so far
    reason: str  # why the last one failed
    retry_in: float  # seconds until the next try
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return (
            f"exit of {self.bot_name} {self.symbol} failing ({self.trigger}): try {self.failures} failed: "
            f"{self.reason}; trying again in {self.retry_in:.0f} s until flat "
            "(/close, /pause or a repair stops the retries)"
        )


@dataclass(frozen=True, kw_only=True)
class QuotesUnavailable(Event):
    """No quote for a position with a stop for several monitor passes: its stop is not watched."""

    symbol: str
    passes: int
    stop_loss: str | None = None
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return (
            f"no quote for {self.symbol} for {self.passes} monitor passes in a row: "
            f"{self.bot_name}'s stop{'' if self.stop_loss is None else ' ' + self.stop_loss} is not being watched"
        )


@dataclass(frozen=True, kw_only=True)
class QuotesBack(Event):
    symbol: str
    severity: Severity = Severity.ERROR  # said where their absence was said

    def text(self) -> str:
        return f"quotes for {self.symbol} are back: {self.bot_name}'s stop is watched again"


@dataclass(frozen=True, kw_only=True)
class PositionRepaired(Event):
    """A person repaired a mismatch (adopt or flatten); the bots on the symbol are cleared."""

    symbol: str
    action: str  # "adopt" or "flatten"
    ours: Decimal  # our sum before
    theirs: Decimal  # the broker's net
    by: str
    detail: str = ""

    def text(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return (
            f"{self.bot_name} {self.symbol} mismatch repaired by {self.by} ({self.action}; signaldesk held "
            f"{display.signed_quantity(self.ours)}, the broker {display.signed_quantity(self.theirs)}){tail}"
        )


# ----------------------------------------------------------------------------- the feed

_COLUMNS = frozenset({"at", "bot_name", "signal_id", "severity", "seq"})


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event as the live feed keeps it (the `events` table): numbered by `seq`, which
    only grows, across restarts too; the event's own fields are in `data`, as JSON."""

    seq: int
    at: datetime
    kind: str
    severity: Severity
    bot_name: str | None
    signal_id: int | None
    text: str
    data: dict[str, Any]


def feed_event(event: Event) -> FeedEvent:
    """A stored event (its `seq` set) as the live feed hands it out."""
    if event.seq is None:
        raise ValueError(f"{event.kind} has not been stored: it has no number yet")
    return FeedEvent(
        event.seq,
        event.at,
        event.kind,
        event.severity,
        event.bot_name,
        event.signal_id,
        event.text(),
        event_data(event),
    )


def event_data(event: Event) -> dict[str, Any]:
    """The event's fields other than at, bot_name, signal_id and severity, as JSON values
    (decimals and times as text, so nothing is rounded on the way; quantities as the JSON
    numbers they always were: 1, or 0.01 on an exchange account)."""
    return {
        f.name: quantities.json_number(value)
        if f.name in _QUANTITY_FIELDS and isinstance(value := getattr(event, f.name), Decimal)
        else _json(getattr(event, f.name))
        for f in fields(event)
        if f.name not in _COLUMNS
    }


_QUANTITY_FIELDS = frozenset({"quantity", "filled_quantity", "ours", "theirs"})


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return _json(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return str(value)  # Decimal, float and anything else: its text


@dataclass(frozen=True, kw_only=True)
class DatabaseDown(Event):
    """The database stopped answering (or refused writes, e.g. a full disk): alerts are
    answered 503 and nothing executes until it is back. Said once per outage."""

    reason: str
    severity: Severity = Severity.ERROR

    def text(self) -> str:
        return (
            f"database DOWN: {self.reason}; alerts are answered 503 storage_unavailable and nothing "
            "executes until it is back (signaldesk keeps trying)"
        )


@dataclass(frozen=True, kw_only=True)
class DatabaseBack(Event):
    down_seconds: float
    severity: Severity = Severity.ERROR  # said where its absence was said

    def text(self) -> str:
        return f"database back after {self.down_seconds:.0f} s: alerts are taken and signals execute again"


def event_from_feed(stored: FeedEvent) -> Event:
    """The event a stored row tells of, as its class again (what `feed_event` keeps, read
    back): how the leader hands another process's events to Discord. An unknown kind (a
    newer process's event) comes back as a Notice carrying its text."""
    cls = _event_classes().get(stored.kind)
    if cls is None:
        return Notice(
            at=stored.at,
            bot_name=stored.bot_name,
            signal_id=stored.signal_id,
            severity=stored.severity,
            seq=stored.seq,
            message=stored.text,
        )
    hints = _hints(cls)
    values = {
        f.name: _from_json(hints[f.name], stored.data[f.name])
        for f in fields(cls)
        if f.name not in _COLUMNS and f.name in stored.data
    }
    return cls(
        at=stored.at,
        bot_name=stored.bot_name,
        signal_id=stored.signal_id,
        severity=stored.severity,
        seq=stored.seq,
        **values,
    )


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type[Event]) -> dict[str, Any]:
    """The fields' types, resolved once per class (a read-back per event must stay cheap)."""
    found = _HINTS.get(cls.__name__)
    if found is None:
        found = _HINTS[cls.__name__] = get_type_hints(cls)
    return found


def _event_classes() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    todo: list[type[Event]] = [Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            found[sub.__name__] = sub
            todo.append(sub)
    return found


def _from_json(hint: Any, value: Any) -> Any:
    """`_json`'s value back as the field's type."""
    if value is None:
        return None
    options = [a for a in get_args(hint) if a is not type(None)] if isinstance(hint, UnionType) else [hint]
    kind = options[0]
    origin = get_origin(kind)
    if origin is tuple:
        (item, *_) = get_args(kind)
        return tuple(_from_json(item, v) for v in value)
    if origin is dict:
        return dict(value)
    if kind is Decimal:
        # A quantity is a JSON number (event_data): its float's repr is its exact digits.
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    if kind is float:
        return float(value)
    return value
