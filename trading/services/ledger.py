"""The decision ledger (issue 30): per bot and per approver, what the desk did against what
the bot alone would have done, over the stored candles. The figures are computed by
trading/replay/ledger.py with the replay's own engine, levels and fill rules; this module
reads what they need from the database. docs/ledger.md says how, for people."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from trading.domain import display
from trading.domain.candles import MINUTE
from trading.domain.events import Event, Notice
from trading.domain.market import Instrument
from trading.domain.records import Bot, Decision, SignalEdits, StoredSignal
from trading.domain.signals import SignalSource, SignalState
from trading.domain.values import ZERO
from trading.replay.ledger import (
    APPROVED,
    DECISION_KINDS,
    EDITED,
    ApproverLedger,
    BotLedger,
    DecidedSignal,
    DeskOpen,
    DeskTrade,
    compute_ledger,
)
from trading.services.candles import CandleGaps, CandleStore
from trading.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from trading.services.positions import position_of

MAX_DAYS = 365
_PAGE = 500


class UnknownBot(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no bot named {name!r}")
        self.name = name


@dataclass(frozen=True, slots=True)
class BotEdge:
    ledger: BotLedger
    currency: str
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class EdgeReport:
    since: datetime
    until: datetime
    days: int
    bots: tuple[BotEdge, ...]
    approvers: tuple[ApproverLedger, ...]  # across the bots shown


class Ledger:
    def __init__(
        self, uow: UnitOfWorkFactory, candles: CandleStore, clock: Clock, gaps: CandleGaps | None = None
    ) -> None:
        self._uow = uow
        self._candles = candles
        self._clock = clock
        self._gaps = gaps  # the exchanges' candles for the minutes the desk saw no price

    async def edge(self, bot_name: str | None = None, days: int = 30) -> EdgeReport:
        """The ledger of the last `days` days, of one bot or of every bot with decisions;
        UnknownBot for a name no bot has, ValueError for days outside 1..365."""
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, not {days}")
        until = self._clock.now()
        since = until - timedelta(days=days)
        async with self._uow(read_only=True) as uow:
            if bot_name is not None:
                found = await uow.bots.get_by_name(bot_name)
                if found is None:
                    raise UnknownBot(bot_name)
                bots = [found]
            else:
                bots = sorted(await uow.bots.list(), key=lambda b: b.name)
            inputs = [await _inputs(uow, bot, since) for bot in bots]
        shown: list[BotEdge] = []
        for bot, (instrument, signals, trades, desk_open) in zip(bots, inputs, strict=True):
            if bot_name is None and not any(s.decision is not None for s in signals):
                continue  # a bot no person decided for has no ledger to show
            candles = await self._candles.between(instrument.symbol, since, until + MINUTE)
            # The bot's accounts that trade this very symbol (a leg with a symbol of its own
            # on another exchange gives other prices).
            accounts = [a for a in bot.config.account_names if bot.config.symbol_on(a) == instrument.symbol]
            if self._gaps is not None and await self._gaps.fill(accounts, instrument.symbol, candles, since, until):
                candles = await self._candles.between(instrument.symbol, since, until + MINUTE)
            # CPU work (several replays): off the event loop.
            ledger = await asyncio.to_thread(
                compute_ledger, bot.name, bot.config, instrument, signals, trades, desk_open, candles
            )
            shown.append(BotEdge(ledger, instrument.currency, instrument.tick_size))
        return EdgeReport(since, until, days, tuple(shown), _across(b.ledger for b in shown))


async def _inputs(
    uow: UnitOfWork, bot: Bot, since: datetime
) -> tuple[Instrument, list[DecidedSignal], list[DeskTrade], DeskOpen | None]:
    instrument = await uow.instruments.get(bot.config.symbol) or Instrument(bot.config.symbol)
    stored: list[StoredSignal] = []
    before: int | None = None
    while True:
        page = await uow.signals.list(bot_id=bot.id, limit=_PAGE, before_id=before, history=False)
        stored += [s for s in page if s.created_at >= since]
        if len(page) < _PAGE or page[-1].created_at < since:
            break
        before = page[-1].id
    signals: list[DecidedSignal] = []
    for s in sorted(stored, key=lambda s: s.id):
        # The bot's own alerts; a person's orders, closes and the stop monitor's exits are the desk's.
        if s.signal.source is not SignalSource.WEBHOOK or s.state is SignalState.PENDING_APPROVAL:
            continue
        approval = await uow.approvals.get(s.id)
        if approval is None or approval.decision is None:
            signals.append(DecidedSignal(s.id, s.created_at, s.signal))
            continue
        edits = approval.edits or s.edits
        kind = approval.decision.value
        if approval.decision is Decision.APPROVED:
            kind = EDITED if _edited(edits) else APPROVED
        assert kind in DECISION_KINDS
        signals.append(
            DecidedSignal(
                s.id,
                s.created_at,
                s.signal,
                kind,
                approval.decided_by_name or approval.decided_by if approval.decision is not Decision.EXPIRED else None,
                approval.requested_at,
                approval.decided_at,
                edits if kind == EDITED else None,
            )
        )
    trades = [
        DeskTrade(t.signal_id, t.opened_at, t.closed_at, t.realized_pnl)
        for t in await uow.trades.list(bot_id=bot.id, since=since, limit=100_000)
        if t.opened_at is not None and t.opened_at >= since
    ]
    # A bot on several accounts: its first account's leg (the shadows follow the alerts, once).
    position = await position_of(uow, bot, instrument.contract_multiplier)
    desk_open = None
    opened = position.opened_at
    if position.side is not None and position.average_price is not None and opened is not None and opened >= since:
        desk_open = DeskOpen(position.side, position.quantity, position.average_price, position.multiplier, opened)
    return instrument, signals, trades, desk_open


def _edited(edits: SignalEdits | None) -> bool:
    return edits is not None and any(
        v is not None for v in (edits.quantity, edits.order_type, edits.limit_price, edits.stop_loss, edits.take_profit)
    )


def _across(ledgers: Iterable[BotLedger]) -> tuple[ApproverLedger, ...]:
    """Each approver's rows of every bot, added up."""
    rows: dict[str, list[ApproverLedger]] = {}
    for ledger in ledgers:
        for row in ledger.approvers:
            rows.setdefault(row.approver, []).append(row)
    out: list[ApproverLedger] = []
    for name in sorted(rows):
        mine = rows[name]
        decisions = {k: sum(r.decisions[k] for r in mine) for k in DECISION_KINDS}
        out.append(
            ApproverLedger(
                name,
                decisions,
                tuple(w for r in mine for w in r.waits),
                sum((r.rejections for r in mine), ZERO),
                sum((r.edits for r in mine), ZERO),
            )
        )
    return tuple(out)


def figures(edge: BotEdge) -> list[tuple[str, str]]:
    """A bot's ledger as (label, value) lines, for the faces (the command line, Discord)."""
    ledger, currency = edge.ledger, edge.currency
    d = ledger.decisions
    wait = ledger.median_seconds_to_decide
    lines = [
        (
            "decisions",
            f"{d['approved']} approved, {d['edited']} edited, {d['rejected']} rejected, {d['expired']} expired",
        ),
        ("median time to decide", "-" if wait is None else f"{wait:.0f} s"),
        ("desk P&L", display.money(ledger.desk_pnl, currency)),
        ("bot alone P&L", display.money(ledger.bot_alone_pnl, currency)),
        ("edge", display.money(ledger.edge, currency)),
        ("  rejections", display.money(ledger.rejections, currency)),
        ("  edits", display.money(ledger.edits, currency)),
        ("  waiting", display.money(ledger.waiting, currency)),
        ("open shadows", f"{ledger.open_shadows} (marked to the last candle)"),
        ("excluded", str(len(ledger.excluded))),
    ]
    lines += [("  left out", why) for why in ledger.excluded]
    return lines


class WeeklyEdgeSummary:
    """LEDGER_WEEKLY_SUMMARY: every Monday's first hour (UTC), the last 7 days' ledger as one
    notice on the log channel (a housekeeping job, run hourly by the leader). Sent once a
    week by this process; a restart inside that hour may send it again."""

    def __init__(
        self, ledger: Ledger, uow: UnitOfWorkFactory, clock: Clock, publish: Callable[[list[Event]], None]
    ) -> None:
        self._ledger = ledger
        self._uow = uow
        self._clock = clock
        self._publish = publish
        self._sent_week: tuple[int, int] | None = None

    async def __call__(self) -> bool:
        """Whether the summary was sent now."""
        now = self._clock.now()
        week = now.isocalendar()[:2]
        if now.weekday() != 0 or now.hour != 0 or self._sent_week == week:
            return False
        report = await self._ledger.edge(None, 7)
        notice = Notice(at=now, message=summary_text(report))
        async with self._uow() as uow:
            uow.emit([notice])
            await uow.commit()
        self._publish(uow.emitted)
        self._sent_week = week
        return True


def summary_text(report: EdgeReport) -> str:
    """The week's ledger in a few lines: per bot, desk against bot alone and the split."""
    head = f"Weekly edge, {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d} (docs/ledger.md)"
    if not report.bots:
        return f"{head}: no decisions."
    lines = [head + ":"]
    for b in report.bots:
        ledger, currency = b.ledger, b.currency
        d = ledger.decisions
        lines.append(
            f"{ledger.bot}: desk {display.money(ledger.desk_pnl, currency)} vs bot alone "
            f"{display.money(ledger.bot_alone_pnl, currency)}, edge {display.money(ledger.edge, currency)} "
            f"(rejections {display.money(ledger.rejections, currency)}, edits {display.money(ledger.edits, currency)}, "
            f"waiting {display.money(ledger.waiting, currency)}); {d['approved']} approved, {d['edited']} edited, "
            f"{d['rejected']} rejected, {d['expired']} expired"
            + (f"; {len(ledger.excluded)} left out" if ledger.excluded else "")
        )
    return "\n".join(lines)
