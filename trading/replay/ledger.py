"""The decision ledger of one bot: what the desk did against what the bot alone would have
done, computed by the replay's own engine, levels and fill rules (`replay_signals`).

Runs, each over the same stored candles (docs/ledger.md says it for people):

- **bot alone** (A): every signal as it arrived, at the alert's time, unedited.
- **as decided** (B): only the signals taken (approved, edited, or never asked), unedited.
- **as decided and edited** (C): B with the approvers' edits.
- **the desk**: the realized trades of the live desk (and its open position marked to the
  last candle).

edge = desk − A = (B − A) rejections + (C − B) edits + (desk − C) waiting: what rejecting
(and letting expire) saved or cost, what edits added or cost, and what deciding later than
the alert cost (the fills at the broker's price when decided, against the alert's price).

Honest numbers: a trade (a shadow's or the desk's) counts only when a candle exists for every
minute of its life; one with a missing minute is left out of every total and reported, as is
a signal whose own minute has no candle. An open position is marked to the last candle's
close and said to be open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from statistics import median

from trading.domain.candles import Candle, minute_of, missing_minutes
from trading.domain.config import BotConfig
from trading.domain.market import Instrument
from trading.domain.records import SignalEdits
from trading.domain.signals import Signal
from trading.domain.values import ZERO, PositionSide
from trading.replay.simulator import NO_CANDLE, ReplayResult, TimedSignal, replay_signals

# The decisions a card can end in, as the ledger counts them (an approval with edits is "edited").
APPROVED, EDITED, REJECTED, EXPIRED = "approved", "edited", "rejected", "expired"
DECISION_KINDS = (APPROVED, EDITED, REJECTED, EXPIRED)


@dataclass(frozen=True, slots=True)
class DecidedSignal:
    """One signal of the bot, with what became of its card (decision None: never asked, an
    auto-mode signal, which the desk and the bot alone both take)."""

    signal_id: int
    time: datetime  # when the alert arrived: the shadow executes then
    signal: Signal
    decision: str | None = None  # one of DECISION_KINDS
    approver: str | None = None
    asked_at: datetime | None = None
    decided_at: datetime | None = None
    edits: SignalEdits | None = None

    @property
    def taken(self) -> bool:
        return self.decision in (None, APPROVED, EDITED)


@dataclass(frozen=True, slots=True)
class DeskTrade:
    """Contracts the live desk took off a position, with the P&L it realized."""

    signal_id: int | None  # the signal whose fill closed them
    opened_at: datetime | None
    closed_at: datetime
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class DeskOpen:
    """The live desk's position still open at the end."""

    side: PositionSide
    quantity: Decimal
    average_price: Decimal
    multiplier: Decimal
    opened_at: datetime | None


@dataclass(frozen=True, slots=True)
class ShadowTrade:
    """A trade of the bot alone: opened by one of its signals, closed by a later one, its
    stop or target, or still open (marked to the last candle)."""

    opened_by: int | None  # the signal id
    closed_by: int | None  # the signal id; None for a stop, a target, or still open
    side: str
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal  # the last candle's close while open
    pnl: Decimal
    opened_at: datetime | None
    closed_at: datetime | None  # None while open
    reason: str  # stop_loss | take_profit | close | reverse | reduce | open
    excluded: str | None = None  # why it is left out of the totals (a gap in the candles)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class Totals:
    pnl: Decimal
    excluded: tuple[str, ...]  # what was left out, and why


@dataclass(frozen=True, slots=True)
class ApproverLedger:
    approver: str
    decisions: dict[str, int]
    waits: tuple[float, ...]  # seconds from the card to each of their decisions
    rejections: Decimal  # what this approver's rejections saved (+) or cost (-)
    edits: Decimal  # what this approver's edits added (+) or cost (-)

    @property
    def median_seconds_to_decide(self) -> float | None:
        return float(median(self.waits)) if self.waits else None


@dataclass(frozen=True, slots=True)
class BotLedger:
    bot: str
    decisions: dict[str, int]
    median_seconds_to_decide: float | None
    desk_pnl: Decimal
    bot_alone_pnl: Decimal
    rejections: Decimal
    edits: Decimal
    waiting: Decimal
    shadows: tuple[ShadowTrade, ...]
    excluded: tuple[str, ...]  # each shadow (or signal) left out, and why
    approvers: tuple[ApproverLedger, ...] = field(default=())
    decided: tuple[DecidedSignal, ...] = field(default=())  # the signals, as given
    # The two equity curves: (time, the desk's running total, the bot alone's), a point per
    # counted trade of either, the open positions' marks last.
    curve: tuple[tuple[datetime, Decimal, Decimal], ...] = field(default=())

    @property
    def edge(self) -> Decimal:
        return self.desk_pnl - self.bot_alone_pnl

    @property
    def open_shadows(self) -> int:
        return sum(1 for s in self.shadows if s.is_open and s.excluded is None)


def compute_ledger(
    bot: str,
    config: BotConfig,
    instrument: Instrument,
    signals: Sequence[DecidedSignal],
    desk_trades: Sequence[DeskTrade],
    desk_open: DeskOpen | None,
    candles: Sequence[Candle],
    *,
    slippage_ticks: int = 0,
) -> BotLedger:
    """The ledger of `bot` over `candles` (one-minute, in time order) for `signals` (its
    signals of the period, in arrival order) and what the desk did with them."""
    decisions, waits = _decisions(signals)
    if len(candles) < 2:
        why = "fewer than two candles stored for the period"
        return BotLedger(
            bot,
            decisions,
            waits,
            ZERO,
            ZERO,
            ZERO,
            ZERO,
            ZERO,
            (),
            (why,) if signals else (),
            _approvers(signals, ZERO, None),
        )
    # Nothing happens before the first signal: the replays start at its minute.
    first = minute_of(min(s.time for s in signals)) if signals else candles[0].time
    start = next((i for i, c in enumerate(candles) if c.time >= first), len(candles))
    candles = candles[min(start, len(candles) - 2) :]
    covered = _Coverage(candles)

    def run(chosen: Sequence[DecidedSignal], edited: bool) -> ReplayResult:
        timed = [TimedSignal(s.time, s.signal, f"signal #{s.signal_id}", s.edits if edited else None) for s in chosen]
        return replay_signals(config, instrument, timed, candles, slippage_ticks=slippage_ticks)

    alone = run(signals, edited=False)
    shadows = _shadows(alone, signals, covered)
    bot_alone = _totals(alone, covered)
    decided = run([s for s in signals if s.taken], edited=False)
    as_decided = _totals(decided, covered)
    with_edits = _totals(run([s for s in signals if s.taken], edited=True), covered)
    desk = _desk_totals(desk_trades, desk_open, candles, covered)
    # Both sides left out, said: the shadows the bot alone would have had and the desk's own.
    excluded = tuple(dict.fromkeys((*bot_alone.excluded, *desk.excluded)))
    return BotLedger(
        bot=bot,
        decisions=decisions,
        median_seconds_to_decide=waits,
        desk_pnl=desk.pnl,
        bot_alone_pnl=bot_alone.pnl,
        rejections=as_decided.pnl - bot_alone.pnl,
        edits=with_edits.pnl - as_decided.pnl,
        waiting=desk.pnl - with_edits.pnl,
        shadows=shadows,
        excluded=excluded,
        approvers=_approvers(signals, bot_alone.pnl, lambda chosen, edited: _totals(run(chosen, edited), covered).pnl),
        decided=tuple(signals),
        curve=_curve(alone, desk_trades, desk_open, candles, covered),
    )


# --------------------------------------------------------------------------- coverage


class _Coverage:
    """Which minutes have a candle: a trade counts only when every minute of its life has one."""

    def __init__(self, candles: Sequence[Candle]) -> None:
        self.starts = frozenset(c.time for c in candles)
        self.last = candles[-1]

    def gap(self, start: datetime | None, end: datetime | None) -> str | None:
        """Why [start, end] cannot be judged, or None when every minute has a candle."""
        if start is None:
            return None
        missing = missing_minutes(self.starts, start, end or self.last.time)
        if not missing:
            return None
        first = missing[0].strftime("%Y-%m-%d %H:%M")
        return f"no candle for {len(missing)} minute(s) of its life, the first {first} UTC"


def _totals(result: ReplayResult, covered: _Coverage) -> Totals:
    pnl = ZERO
    excluded: list[str] = []
    for t in result.trades:
        gap = covered.gap(t.opened_at, t.closed_at)
        if gap is None:
            pnl += t.pnl
        else:
            excluded.append(f"{t.side.value} {t.quantity} opened {_when(t.opened_at)}: {gap}")
    if result.open_position is not None:
        pos = result.open_position
        gap = covered.gap(pos.opened_at, None)
        if gap is None:
            pnl += pos.unrealized_pnl
        else:
            excluded.append(f"open {pos.side.value} {pos.quantity} opened {_when(pos.opened_at)}: {gap}")
    for s in result.skipped:
        if s.outcome == NO_CANDLE:
            excluded.append(f"{s.source} at {_when(s.time)}: no candle for its minute")
    return Totals(pnl, tuple(excluded))


def _desk_totals(
    trades: Sequence[DeskTrade], open_position: DeskOpen | None, candles: Sequence[Candle], covered: _Coverage
) -> Totals:
    pnl = ZERO
    excluded: list[str] = []
    for t in trades:
        gap = covered.gap(t.opened_at, t.closed_at)
        if gap is None:
            pnl += t.pnl
        else:
            excluded.append(f"desk trade closed {_when(t.closed_at)}: {gap}")
    if open_position is not None:
        gap = covered.gap(open_position.opened_at, None)
        if gap is None:
            mark = candles[-1].close
            p = open_position
            pnl += (mark - p.average_price) * p.quantity * p.multiplier * p.side.sign
        else:
            excluded.append(f"desk's open position: {gap}")
    return Totals(pnl, tuple(excluded))


def _curve(
    alone: ReplayResult,
    desk_trades: Sequence[DeskTrade],
    desk_open: DeskOpen | None,
    candles: Sequence[Candle],
    covered: _Coverage,
) -> tuple[tuple[datetime, Decimal, Decimal], ...]:
    """The running totals of what the totals count, a point per counted trade."""
    steps: list[tuple[datetime, Decimal, Decimal]] = [
        (t.closed_at, t.pnl, ZERO) for t in desk_trades if covered.gap(t.opened_at, t.closed_at) is None
    ]
    steps += [(t.closed_at, ZERO, t.pnl) for t in alone.trades if covered.gap(t.opened_at, t.closed_at) is None]
    steps.sort(key=lambda step: step[0])
    end = candles[-1].time
    desk_mark = ZERO
    if desk_open is not None and covered.gap(desk_open.opened_at, None) is None:
        p = desk_open
        desk_mark = (candles[-1].close - p.average_price) * p.quantity * p.multiplier * p.side.sign
    pos = alone.open_position
    alone_mark = pos.unrealized_pnl if pos is not None and covered.gap(pos.opened_at, None) is None else ZERO
    points: list[tuple[datetime, Decimal, Decimal]] = [(candles[0].time, ZERO, ZERO)]
    desk = bot = ZERO
    for at, d, b in steps:
        desk, bot = desk + d, bot + b
        points.append((at, desk, bot))
    points.append((max(end, points[-1][0]), desk + desk_mark, bot + alone_mark))
    return tuple(points)


def _shadows(result: ReplayResult, signals: Sequence[DecidedSignal], covered: _Coverage) -> tuple[ShadowTrade, ...]:
    by_source = {f"signal #{s.signal_id}": s.signal_id for s in signals}
    by_time: dict[datetime, int] = {}
    for s in signals:
        by_time.setdefault(s.time, s.signal_id)
        by_time.setdefault(minute_of(s.time), s.signal_id)
    out: list[ShadowTrade] = []
    for t in result.trades:
        out.append(
            ShadowTrade(
                opened_by=_opener(t.opened_at, by_time),
                closed_by=by_source.get(t.source),
                side=t.side.value,
                quantity=t.quantity,
                entry_price=t.entry_price,
                exit_price=t.exit_price,
                pnl=t.pnl,
                opened_at=t.opened_at,
                closed_at=t.closed_at,
                reason=t.exit_reason,
                excluded=covered.gap(t.opened_at, t.closed_at),
            )
        )
    pos = result.open_position
    if pos is not None:
        out.append(
            ShadowTrade(
                opened_by=_opener(pos.opened_at, by_time),
                closed_by=None,
                side=pos.side.value,
                quantity=pos.quantity,
                entry_price=pos.average_price,
                exit_price=pos.mark_price,
                pnl=pos.unrealized_pnl,
                opened_at=pos.opened_at,
                closed_at=None,
                reason="open",
                excluded=covered.gap(pos.opened_at, None),
            )
        )
    return tuple(out)


def _opener(opened_at: datetime | None, by_time: dict[datetime, int]) -> int | None:
    if opened_at is None:
        return None
    # A market entry opens at its alert's time; a limit entry at the start of the candle it filled in.
    return by_time.get(opened_at)


# --------------------------------------------------------------------------- decisions


def _decisions(signals: Sequence[DecidedSignal]) -> tuple[dict[str, int], float | None]:
    counts = dict.fromkeys(DECISION_KINDS, 0)
    for s in signals:
        if s.decision is not None:
            counts[s.decision] += 1
    waits = _waits(signals)
    return counts, float(median(waits)) if waits else None


def _waits(signals: Sequence[DecidedSignal]) -> tuple[float, ...]:
    # Expiries are no one's decision: their wait is the timeout, not a person's time.
    return tuple(
        (s.decided_at - s.asked_at).total_seconds()
        for s in signals
        if s.decision in (APPROVED, EDITED, REJECTED) and s.decided_at is not None and s.asked_at is not None
    )


def _approvers(
    signals: Sequence[DecidedSignal],
    base: Decimal,
    total: Callable[[Sequence[DecidedSignal], bool], Decimal] | None,
) -> tuple[ApproverLedger, ...]:
    """Per approver: the run with only this approver's rejections (and then edits) against
    the bot alone; the other decisions are left as the bot sent them."""
    names = sorted({s.approver for s in signals if s.approver is not None and s.decision is not None})
    out: list[ApproverLedger] = []
    for name in names:
        mine = [s for s in signals if s.approver == name]
        decisions, _median = _decisions(mine)
        rejections = edits = ZERO
        if total is not None:
            # A replay only for what this approver changed (each is a whole run over the candles).
            kept = [s for s in signals if s.approver != name or s.taken]
            without = total(kept, False) if len(kept) < len(signals) else base
            if any(s.edits is not None for s in mine):
                # Only this approver's edits: the others' signals go unedited.
                edited = [s if s.approver == name else _unedited(s) for s in kept]
                edits = total(edited, True) - without
            rejections = without - base
        out.append(ApproverLedger(name, decisions, _waits(mine), rejections, edits))
    return tuple(out)


def _unedited(s: DecidedSignal) -> DecidedSignal:
    return DecidedSignal(s.signal_id, s.time, s.signal, s.decision, s.approver, s.asked_at, s.decided_at, None)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "?"
