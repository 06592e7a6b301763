"""An in-memory unit of work implementing the ports of trading/services/ports.py, so service
tests run without a database (cosmicpython's FakeUnitOfWork).

It behaves as the SQL repositories of db/repositories/ do, as far as a service can see:

- `FakeDatabase` keeps the committed tables; a unit works on its own copy of them, taken at
  its first statement, and publishes the copy on `commit()`. Leaving `async with` without
  committing discards it. A writing unit holds the database's writer lock from its first
  statement until commit, rollback or exit, as on SQLite; a `read_only` unit reads a
  snapshot without waiting and may not write.
- ids increase and are handed out in the unit's copy (a rolled-back id is used again, as
  SQLite does);
- a signal's state moves only along the domain's transition table and every move is
  recorded in its history; a fill id is recorded once (`positions.add_fill` answers False
  the second time); the first decision on an approval wins; the dedupe look-ups apply the
  same rule; `for_update` is accepted and ignored (the writer lock serializes already).

The tables hold immutable values only (frozen dataclasses, tuples), so copying a unit's
tables is copying a few dicts. No SQL anywhere.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from db.errors import DuplicateOrder, NotFound, WebhookKeyInUse
from db.writer_lock import WriterLock
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig
from trading.domain.credentials import secrets_to_store
from trading.domain.events import Event
from trading.domain.exchange_exits import ExchangeExit
from trading.domain.exits import ExitWatch
from trading.domain.market import BrokerOrder, Instrument
from trading.domain.plan import LegKind
from trading.domain.position import Entry, Fill, Position
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
from trading.domain.values import ZERO, Mode, PositionSide
from trading.services import ports
from trading.services.clock import SystemClock
from trading.services.ports import Clock

# A writer waits at most this long for another unit to finish. Every fake statement is
# instant, so a longer wait means a unit was opened inside another one of the same task:
# a deadlock on SQLite too, reported here instead of hanging the test.
WRITER_WAIT = 5.0


class UnitOfWorkClosed(RuntimeError):
    pass


class ReadOnlyUnit(RuntimeError):
    """A read-only unit of work was asked to write."""


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class _SignalRow:
    bot_id: int
    signal: Signal
    body_hash: str
    state: SignalState
    created_at: datetime
    updated_at: datetime
    reason: str | None
    edits: SignalEdits | None
    history: tuple[StateChange, ...]


@dataclass(frozen=True, slots=True)
class _PositionRow:
    side: PositionSide | None
    entries: tuple[Entry, ...]
    average_price: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    realized_pnl: Decimal
    opened_at: datetime | None
    trailing_pct: Decimal | None = None

    @property
    def quantity(self) -> int:
        return sum(e.quantity for e in self.entries)


@dataclass(frozen=True, slots=True)
class _FillRow:
    bot_id: int
    client_order_id: str
    fill: Fill


@dataclass(slots=True)
class _Tables:
    """Everything stored. Values are immutable: a copy of the dicts is a copy of the data."""

    next_ids: dict[str, int] = field(default_factory=dict)
    bots: dict[int, Bot] = field(default_factory=dict)
    signals: dict[int, _SignalRow] = field(default_factory=dict)
    positions: dict[tuple[int, str, str], _PositionRow] = field(default_factory=dict)  # (bot id, account, symbol)
    fills: dict[str, _FillRow] = field(default_factory=dict)
    orders: dict[str, OrderRecord] = field(default_factory=dict)  # by client_order_id
    trades: dict[int, TradeRecord] = field(default_factory=dict)
    approvals: dict[int, ApprovalRecord] = field(default_factory=dict)  # by signal id
    audit: dict[int, AuditEntry] = field(default_factory=dict)
    webhook_logs: dict[int, WebhookLogEntry] = field(default_factory=dict)
    control: dict[int, ControlState] = field(default_factory=dict)  # one row, id 1
    instruments: dict[str, Instrument] = field(default_factory=dict)
    paper_accounts: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # id -> (currency, balance)
    paper_positions: dict[tuple[str, str], tuple[int, Decimal]] = field(default_factory=dict)
    paper_orders: dict[tuple[str, str], BrokerOrder] = field(default_factory=dict)  # (account, order id)
    exits: dict[tuple[int, str, str], ExitWatch] = field(default_factory=dict)  # (bot id, account, symbol)
    exchange_exits: dict[tuple[int, str, str], ExchangeExit] = field(default_factory=dict)  # as exits

    def copy(self) -> _Tables:
        return _Tables(**{f.name: dict(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def new_id(self, table: str) -> int:
        self.next_ids[table] = self.next_ids.get(table, 0) + 1
        return self.next_ids[table]


# --------------------------------------------------------------------------- the database and its units


class FakeDatabase:
    """The committed tables, shared by every unit taken from `uow` (the factory to hand to
    the services, like `Database.uow`)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()  # as Database.clock: rows stamped without a given time
        self.tables = _Tables()
        self.write_lock = WriterLock()  # as SQLite's: urgent writers go ahead of the queue
        self.commits = 0
        self.events: list[Event] = []  # emitted and committed, numbered from 1

    def uow(self, *, read_only: bool = False, urgent: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, read_only=read_only, urgent=urgent)

    __call__ = uow


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase, *, read_only: bool = False, urgent: bool = False) -> None:
        self.database = database
        self.read_only = read_only
        self.urgent = urgent
        self._entered = False
        self._working: _Tables | None = None
        self._holds_write_lock = False
        self.bots: ports.BotRepository = FakeBotRepository(self)
        self.signals: ports.SignalRepository = FakeSignalRepository(self)
        self.positions: ports.PositionRepository = FakePositionRepository(self)
        self.orders: ports.OrderRepository = FakeOrderRepository(self)
        self.trades: ports.TradeRepository = FakeTradeRepository(self)
        self.approvals: ports.ApprovalRepository = FakeApprovalRepository(self)
        self.audit: ports.AuditRepository = FakeAuditRepository(self)
        self.webhook_logs: ports.WebhookLogRepository = FakeWebhookLogRepository(self)
        self.control: ports.ControlRepository = FakeControlRepository(self)
        self.instruments: ports.InstrumentRepository = FakeInstrumentRepository(self)
        self.paper: ports.PaperLedger = FakePaperLedger(self)
        self.exits: ports.ExitWatchRepository = FakeExitWatchRepository(self)
        self.exchange_exits: ports.ExchangeExitRepository = FakeExchangeExitRepository(self)
        self._outbox: list[Event] = []
        self.emitted: list[Event] = []

    def emit(self, events: Iterable[Event]) -> None:
        if self.read_only:
            raise ReadOnlyUnit("a read-only unit of work cannot emit events")
        self._outbox.extend(events)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise UnitOfWorkClosed("this unit of work is already open; take a fresh one from the factory")
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        self._end()

    async def commit(self) -> None:
        if not self._entered:
            raise UnitOfWorkClosed("commit outside `async with`")
        outbox, self._outbox = self._outbox, []
        if outbox:
            await self.write()
        if self._working is not None and not self.read_only:
            self.database.tables = self._working
            self.database.commits += 1
            first = len(self.database.events) + 1
            self.emitted = [replace(e, seq=first + n) for n, e in enumerate(outbox)]
            self.database.events.extend(self.emitted)
        self._end()

    async def rollback(self) -> None:
        if not self._entered:
            raise UnitOfWorkClosed("rollback outside `async with`")
        self._end()

    def _end(self) -> None:
        self._outbox = []
        self._working = None
        if self._holds_write_lock:
            self._holds_write_lock = False
            self.database.write_lock.release()

    async def read(self) -> _Tables:
        """The unit's tables, its transaction begun at the first statement (for the repositories)."""
        if not self._entered:
            raise UnitOfWorkClosed("use the unit of work inside `async with`")
        if self._working is None:
            if not self.read_only:
                try:
                    async with asyncio.timeout(WRITER_WAIT):
                        await self.database.write_lock.acquire(urgent=self.urgent)
                except TimeoutError:
                    raise UnitOfWorkClosed(
                        f"waited {WRITER_WAIT} s for the writer lock: is a unit of work open inside another?"
                    ) from None
                self._holds_write_lock = True
            self._working = self.database.tables.copy()
        return self._working

    async def write(self) -> _Tables:
        if self.read_only:
            raise ReadOnlyUnit("a read-only unit of work must not write")
        return await self.read()


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def _now(self) -> datetime:
        return self._uow.database.clock.now()


# --------------------------------------------------------------------------- bots


class FakeBotRepository(_Repository):
    async def get(self, bot_id: int) -> Bot | None:
        return (await self._uow.read()).bots.get(bot_id)

    async def get_by_name(self, name: str) -> Bot | None:
        return next((b for b in (await self._uow.read()).bots.values() if b.name == name), None)

    async def get_by_key_hash(self, key_hash: str, *, for_update: bool = False) -> Bot | None:
        return next((b for b in (await self._uow.read()).bots.values() if b.webhook_key_hash == key_hash), None)

    async def get_by_key_hashes(self, key_hashes: Sequence[str], *, for_update: bool = False) -> dict[str, Bot]:
        wanted = set(key_hashes)
        return {b.webhook_key_hash: b for b in (await self._uow.read()).bots.values() if b.webhook_key_hash in wanted}

    async def list(self) -> builtins.list[Bot]:
        return sorted((await self._uow.read()).bots.values(), key=lambda b: b.name)

    async def shares_symbol(self, bot: Bot) -> bool:
        return any(
            other.id != bot.id
            and bot.config.broker_account in other.config.account_names
            and other.config.symbol == bot.config.symbol
            for other in (await self._uow.read()).bots.values()
        )

    async def upsert(self, config: BotConfig) -> Bot:
        """Create or update by bot_name, keeping runtime state (paused, needs attention) and,
        for a config read back (masked key, secrets None), the stored secrets."""
        t = await self._uow.write()
        existing = await self.get_by_name(config.bot_name)
        secrets = asdict(secrets_to_store(config, existing, TEST_PASSPHRASES.hash))
        clash = next(
            (
                b
                for b in t.bots.values()
                if b.webhook_key_hash == secrets["webhook_key_hash"] and b.name != config.bot_name
            ),
            None,
        )
        if clash is not None:
            raise WebhookKeyInUse(
                f"bot {config.bot_name}: webhook_key is already used by bot {clash.name}; every bot needs its own"
            )
        stored_config = config.model_copy(
            update={"webhook_key": secrets["webhook_key_hint"], "passphrase": None, "signing_secret": None}
        )
        if existing is None:
            bot = Bot(id=t.new_id("bots"), config=stored_config, **secrets)
        else:
            bot = replace(existing, config=stored_config, **secrets)
        t.bots[bot.id] = bot
        return bot

    async def _set(self, bot_id: int, **values: Any) -> None:
        t = await self._uow.write()
        bot = t.bots.get(bot_id)
        if bot is None:
            raise NotFound(f"bot {bot_id} does not exist")
        if "mode" in values:
            values["config"] = bot.config.model_copy(update={"mode": Mode(values.pop("mode"))})
        t.bots[bot_id] = replace(bot, **values)

    async def set_passphrase_hash(self, bot_id: int, passphrase_hash: str) -> None:
        await self._set(bot_id, passphrase_hash=passphrase_hash)

    async def set_paused(self, bot_id: int, paused: bool, reason: str | None = None) -> None:
        await self._set(bot_id, paused=paused, paused_reason=reason if paused else None)

    async def set_mode(self, bot_id: int, mode: Mode) -> None:
        await self._set(bot_id, mode=mode)

    async def set_needs_attention(self, bot_id: int, flag: bool, reason: str | None = None) -> None:
        await self._set(bot_id, needs_attention=flag, attention_reason=reason if flag else None)


# --------------------------------------------------------------------------- signals


def _stored(t: _Tables, signal_id: int, row: _SignalRow, *, history: bool = True) -> StoredSignal:
    return StoredSignal(
        id=signal_id,
        bot_id=row.bot_id,
        bot_name=t.bots[row.bot_id].name,
        signal=row.signal,
        state=row.state,
        created_at=row.created_at,
        updated_at=row.updated_at,
        reason=row.reason,
        edits=row.edits,
        history=row.history if history else (),
    )


class FakeSignalRepository(_Repository):
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
        t = await self._uow.write()
        if bot_id not in t.bots:
            raise NotFound(f"bot {bot_id} does not exist")
        signal_id = t.new_id("signals")
        row = _SignalRow(
            bot_id=bot_id,
            signal=replace(signal, passphrase=None),  # never stored
            body_hash=body_hash,
            state=state,
            created_at=at,
            updated_at=at,
            reason=reason,
            edits=None,
            history=(StateChange(state, at, cause, reason),),
        )
        t.signals[signal_id] = row
        return _stored(t, signal_id, row)

    async def move(self, signal_id: int, steps: Sequence[StateChange], *, from_state: SignalState) -> bool:
        t = await self._uow.write()
        row = t.signals.get(signal_id)
        if row is None or row.state is not from_state:
            return False
        reason = next((step.reason for step in reversed(steps) if step.reason is not None), row.reason)
        t.signals[signal_id] = replace(
            row, state=steps[-1].state, updated_at=steps[-1].at, reason=reason, history=(*row.history, *steps)
        )
        return True

    async def find_duplicate(self, bot_id: int, *, alert_id: str | None, body_hash: str, since: datetime) -> int | None:
        """The dedupe rule: the lowest id of a signal of this bot with the same alert id
        (ever), or with the same body hash received at or after `since`."""
        t = await self._uow.read()
        return min(
            (
                i
                for i, row in t.signals.items()
                if row.bot_id == bot_id
                and (
                    (alert_id is not None and row.signal.alert_id == alert_id)
                    or (row.body_hash == body_hash and row.created_at >= since)
                )
            ),
            default=None,
        )

    # The batch forms of `add` and `find_duplicate`: the same rule, item by item.

    async def add_many(self, items: Sequence[NewSignal]) -> builtins.list[StoredSignal]:
        return [
            await self.add(
                i.bot_id, i.signal, body_hash=i.body_hash, state=i.state, cause=i.cause, at=i.at, reason=i.reason
            )
            for i in items
        ]

    async def find_duplicates(self, probes: Sequence[DuplicateProbe]) -> builtins.list[int | None]:
        return [
            await self.find_duplicate(p.bot_id, alert_id=p.alert_id, body_hash=p.body_hash, since=p.since)
            for p in probes
        ]

    async def get(self, signal_id: int, *, for_update: bool = False, history: bool = True) -> StoredSignal | None:
        t = await self._uow.read()
        row = t.signals.get(signal_id)
        return None if row is None else _stored(t, signal_id, row, history=history)

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
        t = await self._uow.write()
        row = t.signals.get(signal_id)
        if row is None:
            raise NotFound(f"signal {signal_id} does not exist")
        if row.state not in sources:
            return row.state
        t.signals[signal_id] = replace(
            row,
            state=state,
            updated_at=at,
            reason=row.reason if reason is None else reason,  # a move without a reason keeps the last one
            history=(*row.history, StateChange(state, at, cause, reason)),
        )
        return None

    async def set_edits(self, signal_id: int, edits: SignalEdits) -> None:
        t = await self._uow.write()
        row = t.signals.get(signal_id)
        if row is None:
            raise NotFound(f"signal {signal_id} does not exist")
        t.signals[signal_id] = replace(row, edits=edits)

    async def list(
        self,
        *,
        bot_id: int | None = None,
        state: SignalState | None = None,
        limit: int = 100,
        before_id: int | None = None,
        history: bool = True,
    ) -> builtins.list[StoredSignal]:
        t = await self._uow.read()
        ids = sorted(
            (
                i
                for i, row in t.signals.items()
                if (bot_id is None or row.bot_id == bot_id)
                and (state is None or row.state is state)
                and (before_id is None or i < before_id)
            ),
            reverse=True,
        )
        return [_stored(t, i, t.signals[i], history=history) for i in ids[:limit]]

    async def ids_in_states(self, states: Sequence[SignalState], *, bot_id: int | None = None) -> builtins.list[int]:
        t = await self._uow.read()
        return sorted(
            i for i, row in t.signals.items() if row.state in states and (bot_id is None or row.bot_id == bot_id)
        )

    async def legs_of(self, signal_id: int) -> builtins.list[int]:
        t = await self._uow.read()
        me = t.signals.get(signal_id)
        if me is None:
            return []
        return sorted(
            i
            for i, row in t.signals.items()
            if (row.bot_id, row.body_hash, row.created_at) == (me.bot_id, me.body_hash, me.created_at)
        )

    async def oldest(self, bot_id: int, states: Sequence[SignalState]) -> StoredSignal | None:
        signal_id = await self.next_to_run(bot_id, states)
        return None if signal_id is None else await self.get(signal_id, history=False)

    async def next_to_run(self, bot_id: int, states: Sequence[SignalState]) -> int | None:
        return min(await self.ids_in_states(states, bot_id=bot_id), default=None)

    async def bots_with_signals_in(self, states: Sequence[SignalState]) -> builtins.list[int]:
        t = await self._uow.read()
        return sorted({row.bot_id for row in t.signals.values() if row.state in states})


# --------------------------------------------------------------------------- positions


def _position(symbol: str, row: _PositionRow | None, multiplier: Decimal, account: str) -> Position:
    """The Position as the SQL repository rebuilds it: a stored flat one keeps only its realized P&L."""
    if row is None:
        return Position.flat(symbol, multiplier, account)
    if not row.entries or row.side is None:
        return Position(symbol=symbol, multiplier=multiplier, realized_pnl=row.realized_pnl, account=account)
    return Position.from_entries(
        symbol,
        row.side,
        list(row.entries),
        multiplier=multiplier,
        average_price=row.average_price,
        realized_pnl=row.realized_pnl,
        stop_loss=row.stop_loss,
        take_profit=row.take_profit,
        opened_at=row.opened_at or min(e.time for e in row.entries),
        trailing_pct=row.trailing_pct,
        account=account,
    )


class FakePositionRepository(_Repository):
    async def get(
        self, bot_id: int, symbol: str, *, account: str, multiplier: Decimal, for_update: bool = True
    ) -> Position:
        t = await self._uow.read()
        return _position(symbol, t.positions.get((bot_id, account, symbol)), multiplier, account)

    async def save(self, bot_id: int, position: Position, *, was_flat: bool = False) -> None:
        if not position.account:
            raise ValueError(f"bot {bot_id}'s {position.symbol} position names no account; it cannot be stored")
        t = await self._uow.write()
        t.positions[(bot_id, position.account, position.symbol)] = _PositionRow(
            side=position.side,
            entries=tuple(position.entries),
            average_price=position.average_price,
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
            realized_pnl=position.realized_pnl,
            opened_at=position.opened_at,
            trailing_pct=position.trailing_pct,
        )

    async def add_fill(self, bot_id: int, order_client_id: str, fill: Fill) -> bool:
        t = await self._uow.write()
        if fill.fill_id in t.fills:
            return False
        t.fills[fill.fill_id] = _FillRow(bot_id, order_client_id, fill)
        return True

    async def fills_for_orders(self, client_order_ids: Sequence[str]) -> builtins.list[FillRecord]:
        t = await self._uow.read()
        wanted = set(client_order_ids)
        return [
            FillRecord(r.client_order_id, f.fill_id, f.side, f.quantity, f.price, f.time)
            for r in t.fills.values()
            if r.client_order_id in wanted
            for f in (r.fill,)
        ]

    async def list_open(self) -> builtins.list[tuple[int, Position]]:
        t = await self._uow.read()
        out = []
        for (bot_id, account, symbol), row in sorted(t.positions.items(), key=lambda kv: kv[0]):
            if row.quantity > 0:
                instrument = t.instruments.get(symbol)
                multiplier = instrument.contract_multiplier if instrument else Decimal(1)
                out.append((bot_id, _position(symbol, row, multiplier, account)))
        return out


# --------------------------------------------------------------------------- orders and trades


class FakeOrderRepository(_Repository):
    async def add(self, order: OrderRecord) -> OrderRecord:
        """Store a new order; DuplicateOrder when its client_order_id exists already."""
        t = await self._uow.write()
        if order.client_order_id in t.orders:
            raise DuplicateOrder(order.client_order_id)
        created = order.created_at or self._now()
        stored = replace(order, id=t.new_id("orders"), created_at=created, updated_at=order.updated_at or created)
        t.orders[order.client_order_id] = stored
        return stored

    async def add_many(self, orders: Sequence[OrderRecord]) -> builtins.list[OrderRecord]:
        return [await self.add(order) for order in orders]

    async def get(self, client_order_id: str) -> OrderRecord | None:
        return (await self._uow.read()).orders.get(client_order_id)

    async def update(self, order: OrderRecord) -> None:
        """Everything but identity, owner and creation time."""
        t = await self._uow.write()
        stored = t.orders.get(order.client_order_id)
        if stored is None:
            raise NotFound(f"no order with client_order_id {order.client_order_id!r} to update")
        t.orders[order.client_order_id] = replace(
            order,
            id=stored.id,
            signal_id=stored.signal_id,
            bot_id=stored.bot_id,
            created_at=stored.created_at,
            updated_at=order.updated_at or self._now(),
        )

    async def entries_since(self, bot_id: int, since: datetime) -> int:
        t = await self._uow.read()
        entries = (LegKind.OPEN, LegKind.ADD)
        return len(
            {
                o.signal_id
                for o in t.orders.values()
                if o.bot_id == bot_id
                and o.leg_kind in entries
                and o.filled_quantity > 0
                and o.created_at is not None
                and o.created_at >= since
            }
        )

    async def list_for_signal(self, signal_id: int) -> builtins.list[OrderRecord]:
        t = await self._uow.read()
        return sorted(
            (o for o in t.orders.values() if o.signal_id == signal_id), key=lambda o: (o.leg_index, o.id or 0)
        )


class FakeTradeRepository(_Repository):
    async def add(self, trade: TradeRecord) -> TradeRecord:
        t = await self._uow.write()
        trade_id = t.new_id("trades")
        t.trades[trade_id] = replace(trade, id=trade_id)
        return t.trades[trade_id]

    async def list(
        self, *, bot_id: int | None = None, since: datetime | None = None, limit: int = 50, account: str | None = None
    ) -> builtins.list[TradeRecord]:
        t = await self._uow.read()
        trades = [
            tr
            for tr in t.trades.values()
            if (bot_id is None or tr.bot_id == bot_id)
            and (since is None or tr.closed_at >= since)
            and (account is None or (tr.account or "").lower() == account.lower())
        ]
        trades.sort(key=lambda tr: (tr.closed_at, tr.id or 0), reverse=True)
        return trades[:limit]

    async def realized_since(self, bot_id: int, since: datetime, *, account: str | None = None) -> Decimal:
        t = await self._uow.read()
        return sum(
            (
                tr.realized_pnl
                for tr in t.trades.values()
                if tr.bot_id == bot_id and tr.closed_at >= since and (account is None or tr.account == account)
            ),
            ZERO,
        )

    async def realized_by_day(self, *, since: datetime | None = None) -> builtins.list[DayRealized]:
        t = await self._uow.read()
        days: dict[tuple[datetime, int], Decimal] = {}
        for tr in t.trades.values():
            day = tr.closed_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            days[(day, tr.bot_id)] = days.get((day, tr.bot_id), ZERO) + tr.realized_pnl
        first = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) if since else None
        return [
            DayRealized(bot_id, day, total)
            for (day, bot_id), total in sorted(days.items())
            if first is None or day >= first
        ]

    async def totals_by_bot(self) -> builtins.list[BotTradeTotals]:
        t = await self._uow.read()
        totals: dict[tuple[int, str], BotTradeTotals] = {}
        for tr in t.trades.values():
            key = (tr.bot_id, tr.account or "")
            old = totals.get(key, BotTradeTotals(tr.bot_id, 0, 0, 0, ZERO, tr.account))
            totals[key] = BotTradeTotals(
                tr.bot_id,
                old.trades + 1,
                old.wins + (tr.realized_pnl > 0),
                old.losses + (tr.realized_pnl < 0),
                old.realized + tr.realized_pnl,
                tr.account,
            )
        return [totals[k] for k in sorted(totals)]


# --------------------------------------------------------------------------- approvals


class FakeApprovalRepository(_Repository):
    async def create(self, signal_id: int, requested_at: datetime, expires_at: datetime) -> ApprovalRecord:
        t = await self._uow.write()
        if signal_id in t.approvals:
            raise ValueError(f"signal {signal_id} has an approval already")  # the primary key refuses it
        if signal_id not in t.signals:
            raise NotFound(f"signal {signal_id} does not exist")  # the foreign key refuses it
        record = ApprovalRecord(signal_id=signal_id, requested_at=requested_at, expires_at=expires_at)
        t.approvals[signal_id] = record
        return record

    async def get(self, signal_id: int) -> ApprovalRecord | None:
        return (await self._uow.read()).approvals.get(signal_id)

    async def _update(self, signal_id: int, **values: Any) -> None:
        t = await self._uow.write()
        record = t.approvals.get(signal_id)
        if record is None:
            raise NotFound(f"no approval for signal {signal_id}")
        t.approvals[signal_id] = replace(record, **values)

    async def set_message(self, signal_id: int, channel_id: int, message_id: int) -> None:
        await self._update(signal_id, channel_id=channel_id, message_id=message_id)

    async def set_edits(self, signal_id: int, edits: SignalEdits, edited_by: str) -> None:
        await self._update(signal_id, edits=edits, edited_by=edited_by)

    async def decide(
        self, signal_id: int, decision: Decision, by: str, at: datetime, *, name: str | None = None
    ) -> bool:
        """First wins: False when a decision was recorded already."""
        record = await self.get(signal_id)
        if record is not None and record.decision is not None:
            return False
        name = name[:128] if name else None
        await self._update(signal_id, decision=Decision(decision), decided_by=by, decided_at=at, decided_by_name=name)
        return True

    async def list_pending(self) -> builtins.list[ApprovalRecord]:
        t = await self._uow.read()
        return sorted((a for a in t.approvals.values() if a.decision is None), key=lambda a: a.requested_at)

    async def list_decided(self, since: datetime, *, limit: int = 50) -> builtins.list[ApprovalRecord]:
        t = await self._uow.read()
        decided = [a for a in t.approvals.values() if a.decided_at is not None and a.decided_at >= since]
        return sorted(decided, key=lambda a: (a.decided_at, a.signal_id), reverse=True)[:limit]

    async def approve_first(self, signal_id: int, by: str, at: datetime) -> bool:
        record = await self.get(signal_id)
        if record is None:
            raise NotFound(f"no approval for signal {signal_id}")
        if record.decision is not None or record.first_approved_by is not None:
            return False
        await self._update(signal_id, first_approved_by=by, first_approved_at=at)
        return True

    async def clear_first(self, signal_id: int) -> None:
        await self._update(signal_id, first_approved_by=None, first_approved_at=None)

    async def mark_reminded(self, signal_id: int, at: datetime) -> bool:
        record = await self.get(signal_id)
        if record is None:
            raise NotFound(f"no approval for signal {signal_id}")
        if record.decision is not None or record.reminded_at is not None:
            return False
        await self._update(signal_id, reminded_at=at)
        return True


# --------------------------------------------------------------------------- logs, control, instruments


class FakeAuditRepository(_Repository):
    async def add(self, entry: AuditEntry) -> None:
        t = await self._uow.write()
        t.audit[t.new_id("audit")] = replace(entry, at=entry.at or self._now())

    async def list(self, *, limit: int = 100) -> builtins.list[AuditEntry]:
        t = await self._uow.read()
        return [t.audit[i] for i in sorted(t.audit, reverse=True)[:limit]]


class FakeWebhookLogRepository(_Repository):
    async def add(self, entry: WebhookLogEntry) -> None:
        await self.add_many([entry])

    async def add_many(self, entries: Sequence[WebhookLogEntry]) -> None:
        if entries:
            t = await self._uow.write()
            for entry in entries:
                t.webhook_logs[t.new_id("webhook_logs")] = entry

    async def list(self, *, limit: int = 100) -> builtins.list[WebhookLogEntry]:
        t = await self._uow.read()
        return [replace(t.webhook_logs[i], id=i) for i in sorted(t.webhook_logs, reverse=True)[:limit]]

    async def search(self, where: WebhookLogFilter, *, limit: int = 100) -> builtins.list[WebhookLogEntry]:
        t = await self._uow.read()
        found = []
        for i in sorted(t.webhook_logs, reverse=True):
            e = t.webhook_logs[i]
            if (
                (where.bot_id is None or e.bot_id == where.bot_id)
                and (where.status is None or e.status == where.status)
                and (where.since is None or e.received_at >= where.since)
                and (where.until is None or e.received_at < where.until)
                and (where.before_id is None or i < where.before_id)
            ):
                found.append(replace(e, id=i))
        return found[:limit]

    async def for_signal(self, signal_id: int) -> WebhookLogEntry | None:
        t = await self._uow.read()
        return next(
            (
                replace(t.webhook_logs[i], id=i)
                for i in sorted(t.webhook_logs)
                if t.webhook_logs[i].signal_id == signal_id
            ),
            None,
        )

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        t = await self._uow.write()
        gone = [i for i in sorted(t.webhook_logs) if t.webhook_logs[i].received_at < cutoff][:limit]
        for i in gone:
            del t.webhook_logs[i]
        return len(gone)

    async def delete_beyond(self, keep: int, *, limit: int) -> int:
        t = await self._uow.write()
        ids = sorted(t.webhook_logs)
        gone = ids[: max(0, len(ids) - keep)][:limit]
        for i in gone:
            del t.webhook_logs[i]
        return len(gone)


class FakeControlRepository(_Repository):
    async def get(self) -> ControlState:
        return (await self._uow.read()).control.get(1, ControlState())

    async def set(self, state: ControlState) -> None:
        (await self._uow.write()).control[1] = state


class FakeExitWatchRepository(_Repository):
    async def get(self, bot_id: int, symbol: str, *, account: str) -> ExitWatch | None:
        return (await self._uow.read()).exits.get((bot_id, account, symbol))

    async def list(self, *, bot_id: int | None = None) -> builtins.list[ExitWatch]:
        t = await self._uow.read()
        return [w for _, w in sorted(t.exits.items()) if bot_id is None or w.bot_id == bot_id]

    async def save(self, watch: ExitWatch) -> None:
        t = await self._uow.write()
        if watch.bot_id not in t.bots:
            raise NotFound(f"bot {watch.bot_id} does not exist")
        if not watch.account:
            raise ValueError(f"bot {watch.bot_id}'s {watch.symbol} exit watch names no account; it cannot be stored")
        t.exits[(watch.bot_id, watch.account, watch.symbol)] = watch

    async def delete(self, bot_id: int, symbol: str, *, account: str) -> None:
        (await self._uow.write()).exits.pop((bot_id, account, symbol), None)


class FakeExchangeExitRepository(_Repository):
    async def get(self, bot_id: int, symbol: str, *, account: str) -> ExchangeExit | None:
        return (await self._uow.read()).exchange_exits.get((bot_id, account, symbol))

    async def save(self, record: ExchangeExit) -> None:
        t = await self._uow.write()
        if record.bot_id not in t.bots:
            raise NotFound(f"bot {record.bot_id} does not exist")
        t.exchange_exits[(record.bot_id, record.account, record.symbol)] = record

    async def delete(self, bot_id: int, symbol: str, *, account: str) -> None:
        (await self._uow.write()).exchange_exits.pop((bot_id, account, symbol), None)


class FakeInstrumentRepository(_Repository):
    async def get(self, symbol: str) -> Instrument | None:
        return (await self._uow.read()).instruments.get(symbol)

    async def upsert(self, instrument: Instrument) -> None:
        (await self._uow.write()).instruments[instrument.symbol] = instrument


# --------------------------------------------------------------------------- the paper broker's book


def _own_order(order: BrokerOrder) -> BrokerOrder:
    """A copy whose `extra` dict is not shared with the caller's."""
    return replace(order, extra=dict(order.extra))


class FakePaperLedger(_Repository):
    async def load(self, account_id: str) -> PaperAccountState | None:
        t = await self._uow.read()
        account = t.paper_accounts.get(account_id)
        if account is None:
            return None
        currency, balance = account
        positions = {symbol: held for (acc, symbol), held in t.paper_positions.items() if acc == account_id}
        return PaperAccountState(account_id=account_id, currency=currency, balance=balance, positions=positions)

    async def save(self, state: PaperAccountState) -> None:
        t = await self._uow.write()
        t.paper_accounts[state.account_id] = (state.currency, state.balance)
        # The book is the dict: positions no longer in it are gone.
        for key in [k for k in t.paper_positions if k[0] == state.account_id]:
            del t.paper_positions[key]
        for symbol, held in state.positions.items():
            t.paper_positions[(state.account_id, symbol)] = held

    async def add_order(self, account_id: str, order: BrokerOrder) -> None:
        """Store the order, or update it when its order id is stored already; a second order
        with the same client id is refused."""
        t = await self._uow.write()
        for (acc, order_id), stored in t.paper_orders.items():
            if acc == account_id and stored.client_order_id == order.client_order_id and order_id != order.order_id:
                raise DuplicateOrder(order.client_order_id)
        t.paper_orders[(account_id, order.order_id)] = _own_order(order)

    async def find_order(self, account_id: str, client_order_id: str) -> BrokerOrder | None:
        t = await self._uow.read()
        found = next(
            (o for (acc, _), o in t.paper_orders.items() if acc == account_id and o.client_order_id == client_order_id),
            None,
        )
        return None if found is None else _own_order(found)

    async def get_order(self, account_id: str, order_id: str) -> BrokerOrder | None:
        found = (await self._uow.read()).paper_orders.get((account_id, order_id))
        return None if found is None else _own_order(found)


def _implements_the_ports(database: FakeDatabase) -> tuple[ports.UnitOfWorkFactory, ports.UnitOfWork]:
    """Never called: mypy checks here that the fake satisfies the ports' Protocols."""
    return database.uow, database.uow()
