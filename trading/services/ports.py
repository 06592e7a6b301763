"""The ports: what the domain needs from the outside, as Protocols.

`db/` implements the repositories and the unit of work, `brokers/` the broker, `bot/`
and `web/` the notifier sinks. Tests implement them with in-memory fakes.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from trading.domain.candles import Candle
from trading.domain.config import BotConfig
from trading.domain.events import Event, FeedEvent
from trading.domain.exchange_exits import ExchangeExit, ExitOrderRequest
from trading.domain.exits import ExitWatch
from trading.domain.market import Account, BrokerOrder, BrokerPosition, Instrument, OrderRequest, Quote
from trading.domain.people import Credentials, Person, Role
from trading.domain.position import ClosedTrade, Fill, Position
from trading.domain.records import (
    ApprovalRecord,
    AuditEntry,
    Bot,
    BotTradeTotals,
    ControlState,
    DayRealized,
    Decision,
    DuplicateProbe,
    FillRecord,
    NewSignal,
    OrderRecord,
    PaperAccountState,
    SignalEdits,
    StateChange,
    StoredSignal,
    TradeRecord,
    WebhookLogEntry,
    WebhookLogFilter,
)
from trading.domain.signals import Signal, SignalState
from trading.domain.values import Mode
from trading.services.broker_errors import BrokerFailure, BrokerRefusal, BrokerUnavailable, WouldNotReduce


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class StorageStatus(Protocol):
    """The database's state as the storage watch sees it (trading/services/storage_watch.py)."""

    @property
    def is_down(self) -> bool: ...

    @property
    def reason(self) -> str | None: ...

    def suspect(self, error: BaseException) -> None:
        """A write failed: check the database now. Never raises."""
        ...


# --------------------------------------------------------------------------- repositories


class BotRepository(Protocol):
    async def get(self, bot_id: int) -> Bot | None: ...
    async def get_by_name(self, name: str) -> Bot | None: ...
    async def get_by_key_hash(self, key_hash: str, *, for_update: bool = False) -> Bot | None:
        """With for_update, the bot's row is locked for the transaction (PostgreSQL; SQLite's
        writing transactions are serialized anyway), so its alerts are judged one at a time."""
        ...

    async def get_by_key_hashes(self, key_hashes: Sequence[str], *, for_update: bool = False) -> dict[str, Bot]:
        """The bots of these webhook key hashes, by key hash (unknown ones are absent), in one
        statement; with for_update, their rows are locked for the transaction, in id order."""
        ...

    async def list(self) -> list[Bot]: ...
    async def shares_symbol(self, bot: Bot) -> bool:
        """Whether another bot trades the same symbol on the same broker account."""
        ...

    async def upsert(self, config: BotConfig) -> Bot:
        """Create or update by bot_name; stores hashes of the webhook key and passphrase."""
        ...

    async def set_passphrase_hash(self, bot_id: int, passphrase_hash: str) -> None:
        """Replace an old-style passphrase hash, once the passphrase has been verified."""
        ...

    async def set_paused(self, bot_id: int, paused: bool, reason: str | None = None) -> None: ...
    async def set_mode(self, bot_id: int, mode: Mode) -> None: ...
    async def set_needs_attention(self, bot_id: int, flag: bool, reason: str | None = None) -> None: ...


class SignalRepository(Protocol):
    async def add(
        self,
        bot_id: int,
        signal: Signal,
        *,
        body_hash: str,
        state: SignalState,
        cause: str,
        at: datetime,
        reason: str | None = None,
    ) -> StoredSignal:
        """Store a new signal with its first state change."""
        ...

    async def find_duplicate(self, bot_id: int, *, alert_id: str | None, body_hash: str, since: datetime) -> int | None:
        """The dedupe rule, the only one: the lowest id of a signal of this bot with the same
        alert id (ever), or with the same body hash received at or after `since`."""
        ...

    async def add_many(self, items: Sequence[NewSignal]) -> builtins.list[StoredSignal]:
        """Store new signals with their first state changes, in a constant number of
        statements whatever their number; the stored signals come back in the items' order."""
        ...

    async def find_duplicates(self, probes: Sequence[DuplicateProbe]) -> builtins.list[int | None]:
        """For each probe, in order, what `find_duplicate` answers for it, in one statement
        for them all."""
        ...

    async def get(self, signal_id: int, *, for_update: bool = False, history: bool = True) -> StoredSignal | None:
        """The signal; with history=False its state changes are not read (history is empty)."""
        ...

    async def set_state(
        self,
        signal_id: int,
        state: SignalState,
        *,
        sources: Collection[SignalState],
        cause: str,
        at: datetime,
        reason: str | None = None,
    ) -> SignalState | None:
        """Move to `state` if the signal is in one of `sources`, recording the change: None
        when moved; else the state it is in, nothing written (NotFound: no such signal).
        The transition table is the caller's (trading/services/transitions.py)."""
        ...

    async def move(self, signal_id: int, steps: Sequence[StateChange], *, from_state: SignalState) -> bool:
        """Move the signal from `from_state` through `steps`, recording every step: one
        update and one insert. False, and nothing written, when the signal is no longer in
        `from_state` (something moved it meanwhile). The caller has checked the path against
        the transition table (trading/services/transitions.py)."""
        ...

    async def set_edits(self, signal_id: int, edits: SignalEdits) -> None: ...
    async def list(
        self,
        *,
        bot_id: int | None = None,
        state: SignalState | None = None,
        limit: int = 100,
        before_id: int | None = None,
        history: bool = True,
    ) -> list[StoredSignal]:
        """Newest first; with before_id, only signals older than that one (the next page);
        with history=False the state changes are not read."""
        ...

    async def ids_in_states(self, states: Sequence[SignalState], *, bot_id: int | None = None) -> builtins.list[int]:
        """Ids of the signals (of one bot, when given) in these states, oldest first."""
        ...

    async def oldest(self, bot_id: int, states: Sequence[SignalState]) -> StoredSignal | None:
        """The bot's oldest signal in one of these states (its history not read): the one
        whose turn it is."""
        ...

    async def legs_of(self, signal_id: int) -> builtins.list[int]:
        """The ids of the signals one alert made with this one (one per account), this one
        included, in order."""
        ...

    async def next_to_run(self, bot_id: int, states: Sequence[SignalState]) -> int | None:
        """The bot's oldest signal in one of these states: the one whose turn it is."""
        ...

    async def bots_with_signals_in(self, states: Sequence[SignalState]) -> builtins.list[int]: ...


class PositionRepository(Protocol):
    async def get(
        self, bot_id: int, symbol: str, *, account: str, multiplier: Decimal, for_update: bool = True
    ) -> Position:
        """The bot's position on `account` (flat when none), locked for the transaction when asked."""
        ...

    async def save(self, bot_id: int, position: Position, *, was_flat: bool = False) -> None:
        """Store the position as it is now, under its account. `was_flat`: it was flat when
        read (so it has no entries stored to replace)."""
        ...

    async def add_fill(self, bot_id: int, order_client_id: str, fill: Fill) -> bool:
        """Record a fill; False (and nothing written) when its id was recorded before."""
        ...

    async def list_open(self) -> list[tuple[int, Position]]: ...
    async def fills_for_orders(self, client_order_ids: Sequence[str]) -> builtins.list[FillRecord]:
        """The fills of these orders, in the order they were recorded."""
        ...


class OrderRepository(Protocol):
    async def add(self, order: OrderRecord) -> OrderRecord: ...
    async def add_many(self, orders: Sequence[OrderRecord]) -> builtins.list[OrderRecord]:
        """Store new orders together (one statement); DuplicateOrder when one exists already."""
        ...

    async def get(self, client_order_id: str) -> OrderRecord | None: ...
    async def update(self, order: OrderRecord) -> None: ...
    async def list_for_signal(self, signal_id: int) -> list[OrderRecord]: ...
    async def entries_since(self, bot_id: int, since: datetime) -> int:
        """The bot's signals since `since` whose entry (an open or add leg) filled, in part or all."""
        ...


class TradeRepository(Protocol):
    async def add(self, trade: TradeRecord) -> TradeRecord: ...
    async def list(
        self, *, bot_id: int | None = None, since: datetime | None = None, limit: int = 50, account: str | None = None
    ) -> list[TradeRecord]: ...
    async def realized_since(self, bot_id: int, since: datetime, *, account: str | None = None) -> Decimal: ...
    async def realized_by_day(self, *, since: datetime | None = None) -> builtins.list[DayRealized]:
        """Each bot's realized P&L per UTC day (days with trades only), oldest day first."""
        ...

    async def totals_by_bot(self) -> builtins.list[BotTradeTotals]:
        """Per bot and account (in bot order): trades, wins, losses and realized P&L, over all time."""
        ...


class ApprovalRepository(Protocol):
    async def create(self, signal_id: int, requested_at: datetime, expires_at: datetime) -> ApprovalRecord: ...
    async def get(self, signal_id: int) -> ApprovalRecord | None: ...
    async def set_message(self, signal_id: int, channel_id: int, message_id: int) -> None: ...
    async def set_edits(self, signal_id: int, edits: SignalEdits, edited_by: str) -> None: ...
    async def decide(
        self, signal_id: int, decision: Decision, by: str, at: datetime, *, name: str | None = None
    ) -> bool:
        """Record the decision if none was made yet; False when another came first. `name`:
        the decider's display name as it is now (a Discord member's), for the pages."""
        ...

    async def list_pending(self) -> list[ApprovalRecord]: ...
    async def list_decided(self, since: datetime, *, limit: int = 50) -> list[ApprovalRecord]:
        """Approvals decided at or after `since`, newest decision first."""
        ...

    async def approve_first(self, signal_id: int, by: str, at: datetime) -> bool:
        """Record the first of two approvals while undecided and no first one is recorded;
        False when a decision or another first approval came first."""
        ...

    async def clear_first(self, signal_id: int) -> None:
        """Withdraw the first approval (the card was edited after it)."""
        ...

    async def mark_reminded(self, signal_id: int, at: datetime) -> bool:
        """Record that the approvers were reminded, once: False when they were already, or
        the approval is decided."""
        ...


class AuditRepository(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...
    async def list(self, *, limit: int = 100) -> list[AuditEntry]: ...


class WebhookLogRepository(Protocol):
    async def add(self, entry: WebhookLogEntry) -> None: ...
    async def add_many(self, entries: Sequence[WebhookLogEntry]) -> None:
        """Store the entries in one statement, in their order (ids follow it)."""
        ...

    async def list(self, *, limit: int = 100) -> list[WebhookLogEntry]: ...
    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        """Delete up to `limit` of the oldest rows received before `cutoff`; how many went."""
        ...

    async def delete_beyond(self, keep: int, *, limit: int) -> int:
        """Delete up to `limit` of the oldest rows past the newest `keep`; how many went."""
        ...

    async def search(self, where: WebhookLogFilter, *, limit: int = 100) -> builtins.list[WebhookLogEntry]:
        """Rows matching `where`, newest first."""
        ...

    async def for_signal(self, signal_id: int) -> WebhookLogEntry | None:
        """The request that made this signal."""
        ...


class ControlRepository(Protocol):
    async def get(self) -> ControlState: ...
    async def set(self, state: ControlState) -> None: ...


class InstrumentRepository(Protocol):
    async def get(self, symbol: str) -> Instrument | None: ...
    async def upsert(self, instrument: Instrument) -> None: ...


class ExitWatchRepository(Protocol):
    """The stop monitor's record of each watched position (one per bot, account and symbol)."""

    async def get(self, bot_id: int, symbol: str, *, account: str) -> ExitWatch | None: ...
    async def list(self, *, bot_id: int | None = None) -> builtins.list[ExitWatch]: ...
    async def save(self, watch: ExitWatch) -> None: ...
    async def delete(self, bot_id: int, symbol: str, *, account: str) -> None: ...


class ExchangeExitRepository(Protocol):
    """The stop and target orders placed on the exchange for each position (one record per
    bot, account and symbol; trading/domain/exchange_exits.py)."""

    async def get(self, bot_id: int, symbol: str, *, account: str) -> ExchangeExit | None: ...
    async def save(self, record: ExchangeExit) -> None: ...
    async def delete(self, bot_id: int, symbol: str, *, account: str) -> None: ...


class PaperLedger(Protocol):
    """Where the paper broker keeps its book."""

    async def load(self, account_id: str) -> PaperAccountState | None: ...
    async def save(self, state: PaperAccountState) -> None: ...
    async def add_order(self, account_id: str, order: BrokerOrder) -> None: ...
    async def find_order(self, account_id: str, client_order_id: str) -> BrokerOrder | None: ...
    async def get_order(self, account_id: str, order_id: str) -> BrokerOrder | None: ...


class UnitOfWork(Protocol):
    # The repositories are read-only members: an implementation may hold its own
    # subclasses of them (a mutable Protocol attribute would have to match exactly).
    @property
    def bots(self) -> BotRepository: ...
    @property
    def signals(self) -> SignalRepository: ...
    @property
    def positions(self) -> PositionRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def trades(self) -> TradeRepository: ...
    @property
    def approvals(self) -> ApprovalRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def webhook_logs(self) -> WebhookLogRepository: ...
    @property
    def control(self) -> ControlRepository: ...
    @property
    def instruments(self) -> InstrumentRepository: ...
    @property
    def paper(self) -> PaperLedger: ...
    @property
    def exits(self) -> ExitWatchRepository: ...
    @property
    def exchange_exits(self) -> ExchangeExitRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def emit(self, events: Iterable[Event]) -> None:
        """Store these events in this unit's transaction at its commit (the transactional
        outbox); after the commit, `emitted` holds them numbered, for the sinks."""
        ...

    @property
    def emitted(self) -> list[Event]: ...

    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False, urgent: bool = False) -> UnitOfWork:
        """A fresh unit of work. A read_only one never waits for writers (and must not write).
        An urgent one (the webhook intake, whose senders wait on its commit) goes ahead of the
        writers waiting for the database, never behind queued execution work."""
        ...


# --------------------------------------------------------------------------- broker
#
# Every broker call raises only BrokerFailure subclasses (trading/services/broker_errors.py):
# BrokerRefusal when the broker answered and did nothing (final), BrokerUnavailable when the
# outcome is unknown (retryable; an order is then looked up by its client order id).


class QuoteSource(Protocol):
    """Where prices come from (the paper broker's market): raises BrokerUnavailable when it
    has none to give."""

    async def get_quote(self, symbol: str) -> Quote: ...


class InstrumentSource(Protocol):
    """Where instrument specifications come from (min/max quantity, step, multiplier)."""

    async def get_instrument(self, symbol: str) -> Instrument: ...


class Broker(Protocol):
    name: str

    async def get_instrument(self, symbol: str) -> Instrument: ...
    async def get_quote(self, symbol: str) -> Quote: ...
    async def get_account(self) -> Account: ...
    async def get_positions(self) -> list[BrokerPosition]: ...
    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Place once (the client order id makes retries safe); a non-final answer is
        polled until final or a deadline, and returned as it then stands."""
        ...

    async def get_order(self, order_id: str) -> BrokerOrder: ...
    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order placed with this client id, or None when the broker has none."""
        ...

    async def cancel_order(self, order_id: str) -> BrokerOrder: ...
    async def aclose(self) -> None: ...


BrokerProvider = Callable[[str], Broker]  # broker_account name -> broker


@runtime_checkable
class CandleSource(Protocol):
    """A broker's optional capability: the exchange's own one-minute candles, fetched for
    the minutes the desk saw no price in (docs/ledger.md, "The candles"). The ccxt broker
    has it where the exchange offers candles (`offers_candles`); Herenya and paper do not."""

    offers_candles: bool

    async def get_candles(self, symbol: str, since: datetime, until: datetime) -> list[Candle]:
        """The one-minute candles of `symbol` starting in [since, until), in time order (a
        minute the exchange has none for has none)."""
        ...


@runtime_checkable
class ExitOrders(Protocol):
    """A broker's optional capability: stops and targets resting on the exchange as
    reduce-only stop-market / take-profit-market orders (trading/services/exchange_exits.py).
    The ccxt broker has it; `places_exits` says for which symbols (a derivatives market of an
    exchange whose `has` lists those order types). Herenya and paper do not: the monitor
    watches their levels."""

    async def places_exits(self, symbol: str) -> bool: ...

    async def place_exit(self, request: ExitOrderRequest) -> BrokerOrder:
        """Place once: the order is looked up by its client id first (a retry after a lost
        answer finds it). BrokerRefusal when the exchange will not take it."""
        ...

    async def find_exit(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """The exit order with this client id as it stands (a triggered one with what its
        close filled), or None when the exchange has none."""
        ...

    async def cancel_exit(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """Cancel it if it still rests; the order as it then stands (it may have filled
        meanwhile), or None when the exchange has none."""
        ...


# --------------------------------------------------------------------------- people and the feed
# Their own small units of work: the trading services never touch them, so the trading
# UnitOfWork (and its in-memory fake) stays as it is. db's SqlUnitOfWork is all three.


class PeopleRepository(Protocol):
    async def add(self, name: str, role: Role, password_hash: str, at: datetime) -> Person | None:
        """The new person; None when the name is taken."""
        ...

    async def get(self, person_id: int) -> Person | None: ...
    async def get_by_name(self, name: str) -> Person | None: ...
    async def credentials(self, name: str) -> Credentials | None: ...
    async def list(self) -> builtins.list[Person]: ...
    async def set_role(self, person_id: int, role: Role, at: datetime) -> None: ...
    async def set_disabled(self, person_id: int, disabled: bool, at: datetime) -> None: ...
    async def set_password(self, person_id: int, password_hash: str, at: datetime) -> None: ...
    async def add_token(self, person_id: int, token_hash: str, at: datetime) -> None: ...
    async def by_token(self, token_hash: str) -> Person | None: ...
    async def revoke_tokens(self, person_id: int) -> int: ...
    async def add_session(self, person_id: int, token_hash: str, at: datetime, expires_at: datetime) -> None: ...
    async def by_session(self, token_hash: str, now: datetime) -> Person | None: ...
    async def end_session(self, token_hash: str) -> None: ...
    async def end_sessions(self, person_id: int) -> None: ...
    async def purge_sessions(self, now: datetime) -> None: ...


class PeopleUnitOfWork(Protocol):
    # Read-only members: an implementation may hold its own classes of them.
    @property
    def people(self) -> PeopleRepository: ...
    @property
    def audit(self) -> AuditRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...


class PeopleUnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> PeopleUnitOfWork: ...


class EventRepository(Protocol):
    async def add(self, event: Event) -> FeedEvent:
        """Store the event; it comes back numbered (numbers only grow, across restarts too)."""
        ...

    async def after(self, after: int, limit: int) -> builtins.list[FeedEvent]: ...
    async def last(self) -> int: ...


class EventUnitOfWork(Protocol):
    @property
    def events(self) -> EventRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...


class EventUnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> EventUnitOfWork: ...


# --------------------------------------------------------------------------- notifications


class Notifier(Protocol):
    """A sink for events (Discord log/error channels, Telegram, the web feed). A sink
    must not raise into trading; the dispatcher logs and retries failures."""

    async def publish(self, event: Event) -> None: ...


@runtime_checkable
class BatchNotifier(Protocol):
    """A sink that takes the events queued up for it at once, in order (the live feed:
    one transaction for many events)."""

    async def publish(self, event: Event) -> None: ...
    async def publish_batch(self, events: Sequence[Event]) -> None: ...


__all__ = [
    "BrokerFailure",
    "BrokerRefusal",
    "BrokerUnavailable",
    "ClosedTrade",
    "Fill",
    "WouldNotReduce",
]


class Cluster(Protocol):
    """The processes of one desk: which leads (the duties that run once) and which runs a
    bot's lane. One process alone leads and runs every lane."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def shared(self) -> bool:
        """Whether other processes may run lanes on the same database."""
        ...

    async def take_lane(self, bot_id: int) -> bool:
        """Whether this process may run the bot's lane now (no other process runs it)."""
        ...

    async def release_lane(self, bot_id: int) -> None: ...
