"""The simulated desk: recorded alerts through the live desk's domain code, against candles.

Each alert goes the way the live desk takes a signal (trading/services/execution.py): the
engine plans it (`trading.domain.engine.plan`), the risk checks judge the plan
(`trading.domain.risk.check_risk`), the legs fill and are applied to the position
(`Position.apply_fill`, which also realizes the P&L), and the stop and target are set from the
filled position (`levels.set_levels_after_fill`), the live desk's own rule. Stops and targets are
found by `trading.domain.levels.exit_trigger` and closed through the same path, as the stop
monitor does. Only the clock, the fills and the order of events are the replay's own:

- An alert belongs to the candle whose [start, start + interval) holds its time; the interval
  is the smallest gap between two candle starts. An alert exactly at the close of a candle
  followed by a gap (or the last one) belongs to that candle.
- A market order fills at the alert's price when the candle's low..high range holds it, else
  at the candle's close; plus `slippage_ticks` ticks against the order (buys higher, sells
  lower). That price is also the quote the slippage check (max_slippage_pct) sees.
- A limit entry rests and fills on the first later candle that trades through its price
  (low below a buy's limit, high above a sell's), at the limit, or at the open when the
  candle opens beyond it; no slippage. The next alert cancels it (reported as unfilled).
- Every candle after the one an entry filled in is checked before the alerts inside it: a
  candle opening beyond a level closes at the open; else one reaching the stop closes at
  the stop, else one reaching the target closes at the target. When one candle reaches
  both, the stop wins. These exits are market orders (slippage applies), stamped with the
  candle's start.
- Refusals are the live desk's, except the signal's age (a replay is always late): a bot
  paused by its daily loss limit stays refused for the rest of that UTC day, since the live
  limit counts the day's realized P&L.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from trading.domain.alerts import AlertError, parse_alert
from trading.domain.candles import Candle
from trading.domain.caps import open_risk, trading_day
from trading.domain.config import BotConfig
from trading.domain.engine import plan as plan_signal
from trading.domain.flatten import daily_loss, window_end
from trading.domain.levels import ExitKind, exit_trigger, set_levels_after_fill
from trading.domain.market import Instrument, Quote
from trading.domain.plan import Leg, Plan
from trading.domain.position import Fill, Position
from trading.domain.records import SignalEdits
from trading.domain.risk import RiskContext, check_risk
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.trailing import trailed, trails
from trading.domain.values import ZERO, OrderSide, OrderType, PositionSide
from trading.replay.inputs import AlertRecord

# Why an alert was not acted on (SkippedAlert.outcome).
INVALID = "invalid"  # the body is not an alert the desk understands (what intake would refuse)
WRONG_TICKER = "wrong_ticker"  # for another instrument (intake refuses these too)
NO_CANDLE = "no_candle"  # its time lies outside the candles given
IGNORED = "ignored"  # the engine: nothing to do (close when flat, pyramid full, ...)
REFUSED = "refused"  # the risk checks (daily loss, instrument limits, slippage, inactive)
UNFILLED = "unfilled"  # a limit entry no later candle traded through before the next alert


@dataclass(frozen=True, slots=True)
class ReplayTrade:
    """Contracts taken off the position by one fill, with the P&L `Position` realized."""

    side: PositionSide
    quantity: Decimal
    entry_price: Decimal  # the position's average entry
    exit_price: Decimal
    pnl: Decimal
    opened_at: datetime | None
    closed_at: datetime
    exit_reason: str  # stop_loss | take_profit | close | reverse | reduce
    source: str  # the alert (or the candle, for a stop or target) that closed it


@dataclass(frozen=True, slots=True)
class SkippedAlert:
    time: datetime | None
    source: str
    action: str | None  # the signal's action, when the body could be read
    outcome: str  # one of the constants above
    reason: str


@dataclass(frozen=True, slots=True)
class OpenPosition:
    side: PositionSide
    quantity: Decimal
    average_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    mark_price: Decimal  # the last candle's close
    unrealized_pnl: Decimal
    opened_at: datetime | None = None  # its first fill


@dataclass(frozen=True, slots=True)
class TimedSignal:
    """A signal already read (a stored one, say), when it arrived, and an approver's edits."""

    time: datetime
    signal: Signal
    source: str
    edits: SignalEdits | None = None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    config: BotConfig
    instrument: Instrument
    slippage_ticks: int
    alerts: int  # alert records read
    candles: int
    start: datetime  # the first candle's start
    end: datetime  # the last candle's end
    trades: tuple[ReplayTrade, ...]
    skipped: tuple[SkippedAlert, ...]
    exposure: timedelta  # time with a position open
    open_position: OpenPosition | None  # still open after the last candle


def replay(
    config: BotConfig,
    instrument: Instrument,
    alerts: Sequence[AlertRecord],
    candles: Sequence[Candle],
    *,
    slippage_ticks: int = 0,
) -> ReplayResult:
    """What `config` would have done with `alerts` over `candles` (in time order, at least two)."""
    if slippage_ticks < 0:
        raise ValueError(f"slippage of {slippage_ticks} ticks: must not be negative")
    if len(candles) < 2:
        raise ValueError("at least two candles are needed")
    return _Desk(config, instrument, candles, slippage_ticks).run(alerts)


def replay_signals(
    config: BotConfig,
    instrument: Instrument,
    signals: Sequence[TimedSignal],
    candles: Sequence[Candle],
    *,
    slippage_ticks: int = 0,
) -> ReplayResult:
    """As `replay`, for signals already read (the ledger's shadows: trading/replay/ledger.py),
    each executed with its edits as the live desk executes an edited approval."""
    if slippage_ticks < 0:
        raise ValueError(f"slippage of {slippage_ticks} ticks: must not be negative")
    if len(candles) < 2:
        raise ValueError("at least two candles are needed")
    desk = _Desk(config, instrument, candles, slippage_ticks)
    ready: list[tuple[datetime, int, str, Signal]] = []
    for order, timed in enumerate(signals):
        if timed.edits is not None:
            desk.edits[order] = timed.edits
        ready.append((timed.time, order, timed.source, timed.signal))
    return desk.play(ready, len(signals))


@dataclass(slots=True)
class _Resting:
    """A limit entry waiting for a candle to trade through its price."""

    signal: Signal
    legs: tuple[Leg, ...]
    source: str
    order: int  # the alert's position in the input, for the report's order
    limit: Decimal  # the alert's price, or the approver's edit


class _Desk:
    def __init__(self, config: BotConfig, instrument: Instrument, candles: Sequence[Candle], slippage_ticks: int):
        self.config = config
        self.instrument = instrument
        self.candles = candles
        self.starts = [c.time.timestamp() for c in candles]
        self.interval = min(b - a for a, b in pairwise(self.starts))
        self.slip = instrument.tick_size * slippage_ticks
        self.slippage_ticks = slippage_ticks
        self.position = Position.flat(instrument.symbol, instrument.contract_multiplier)
        self.next_candle = 0  # the first candle not yet checked for exits and resting limits
        self.resting: _Resting | None = None
        self.trades: list[ReplayTrade] = []
        self.skipped: list[tuple[float, int, SkippedAlert]] = []
        self.realized_by_day: dict[date, Decimal] = {}
        self.entries_by_day: dict[date, int] = {}  # in the bot's trading_timezone
        self.open_since: datetime | None = None
        self.exposure = timedelta(0)
        self.fills = 0
        self.tickers = {config.ticker.upper(), config.symbol.upper()}
        self.edits: dict[int, SignalEdits] = {}  # by the signal's position in the input

    # ------------------------------------------------------------------ the clock

    def run(self, alerts: Sequence[AlertRecord]) -> ReplayResult:
        ready: list[tuple[datetime, int, str, Signal]] = []
        for order, record in enumerate(alerts):
            try:
                signal = parse_alert(record.body, None)
            except AlertError as e:
                self._skip(order, record.time, record.source, None, INVALID, f"{e.code}: {e.message}")
                continue
            at = record.time or signal.time
            if at is None:
                self._skip(order, None, record.source, signal.action, INVALID, "the alert has no time")
                continue
            wrong = self._wrong_ticker(record, signal)
            if wrong is not None:
                self._skip(order, at, record.source, signal.action, WRONG_TICKER, wrong)
                continue
            ready.append((at, order, record.source, signal))
        return self.play(ready, len(alerts))

    def play(self, ready: list[tuple[datetime, int, str, Signal]], count: int) -> ReplayResult:
        """The signals read (time, position in the input, source, signal), in time order."""
        ready.sort(key=lambda item: (item[0], item[1]))
        for at, order, source, signal in ready:
            index = self._candle_at(at)
            if index is None:
                reason = f"no candle holds {at.isoformat()} (candles from {self._start().isoformat()} to {self._end().isoformat()}, or a gap)"
                self._skip(order, at, source, signal.action, NO_CANDLE, reason)
                continue
            self._advance(index)
            self._cancel_resting(at, "the next alert came first")
            self._act(signal, index, at, source, order)
        self._advance(len(self.candles) - 1)
        self._cancel_resting(self._end(), "no later candle traded through it")
        end = self._end()
        if self.open_since is not None:
            self.exposure += end - self.open_since
        return ReplayResult(
            config=self.config,
            instrument=self.instrument,
            slippage_ticks=self.slippage_ticks,
            alerts=count,
            candles=len(self.candles),
            start=self._start(),
            end=end,
            trades=tuple(self.trades),
            skipped=tuple(s for _, _, s in sorted(self.skipped, key=lambda item: (item[0], item[1]))),
            exposure=self.exposure,
            open_position=self._open_position(),
        )

    def _start(self) -> datetime:
        return self.candles[0].time

    def _end(self) -> datetime:
        return self.candles[-1].time + timedelta(seconds=self.interval)

    def _candle_at(self, at: datetime) -> int | None:
        ts = at.timestamp()
        index = bisect_right(self.starts, ts) - 1
        if index < 0:
            return None
        close = self.starts[index] + self.interval
        if ts < close:
            return index
        # An alert at the close of a candle with no candle right after it (a gap, or the
        # end): TradingView fires bar-close alerts then, and the bar is that candle.
        if ts == close and (index + 1 == len(self.starts) or self.starts[index + 1] > close):
            return index
        return None

    def _advance(self, through: int) -> None:
        """Check the candles up to `through` (inclusive) not checked yet, in order."""
        for index in range(self.next_candle, through + 1):
            if self.position.side is not None:
                self._check_window_end(index)
            if self.position.side is not None:
                self._check_daily_loss(index)
            if self.position.side is not None and (
                self.position.stop_loss is not None or self.position.take_profit is not None
            ):
                self._check_exits(index)
            if self.position.side is not None and trails(self.config, self.position):
                self._trail(index)
            if self.resting is not None:
                self._check_resting(index)
        self.next_candle = max(self.next_candle, through + 1)

    # ------------------------------------------------------------------ what the desk does

    def _act(self, signal: Signal, index: int, at: datetime, source: str, order: int, exit_reason: str = "") -> None:
        """One signal the way execution runs it: plan, risk, legs filled, levels set."""
        edits = self.edits.get(order)
        the_plan = plan_signal(self.config, self.position, signal, self.instrument, edits)
        if the_plan.is_ignore:
            self._skip(order, at, source, signal.action, IGNORED, the_plan.ignored or "nothing to do")
            return
        candle = self.candles[index]
        price = signal.price
        reference = price if candle.low <= price <= candle.high else candle.close
        quote = Quote(self.instrument.symbol, reference, reference, reference, at)
        verdict = check_risk(
            RiskContext(
                config=self.config,
                plan=the_plan,
                signal=signal,
                instrument=self.instrument,
                quote=quote,
                halted=False,
                paused=False,
                needs_attention=False,
                realized_today=self.realized_by_day.get(at.date(), ZERO),
                now=at,
                trades_today=self.entries_by_day.get(trading_day(at, self.config.trading_timezone), 0),
                open_risk=open_risk(self.config.broker_account, (), self.position, the_plan, signal.price)
                if self.config.max_open_risk is not None and the_plan.is_entry
                else None,
            )
        )
        if verdict.refused is not None:
            self._skip(order, at, source, signal.action, REFUSED, verdict.refused)
            return
        reason = exit_reason or _reason(verdict.plan)
        legs = verdict.plan.legs
        order_type = edits.order_type if edits is not None and edits.order_type is not None else signal.order_type
        for number, leg in enumerate(legs):
            if not leg.kind.reduces and order_type is OrderType.LIMIT:
                limit = edits.limit_price if edits is not None and edits.limit_price is not None else signal.price
                self.resting = _Resting(signal, legs[number:], source, order, limit)
                return
            self._fill(leg, self._market_price(reference, leg.side), at, reason, source)
        if verdict.plan.is_entry:
            self._count_entry(at)
        self._complete(signal, edits)

    def _count_entry(self, at: datetime) -> None:
        """One more entry filled on `at`'s day in the bot's zone (max_trades_per_day)."""
        day = trading_day(at, self.config.trading_timezone)
        self.entries_by_day[day] = self.entries_by_day.get(day, 0) + 1

    def _market_price(self, reference: Decimal, side: OrderSide) -> Decimal:
        price = reference + self.slip * side.sign
        return price if price > 0 else self.instrument.tick_size

    def _fill(self, leg: Leg, price: Decimal, at: datetime, reason: str, source: str) -> None:
        self.fills += 1
        was_open = not self.position.is_flat
        outcome = self.position.apply_fill(Fill(f"replay-{self.fills}", leg.side, leg.quantity, price, at))
        closed = outcome.closed
        if closed is not None:
            self.trades.append(
                ReplayTrade(
                    side=closed.side,
                    quantity=closed.quantity,
                    entry_price=closed.entry_price,
                    exit_price=closed.exit_price,
                    pnl=closed.realized_pnl,
                    opened_at=closed.opened_at,
                    closed_at=closed.closed_at,
                    exit_reason=reason,
                    source=source,
                )
            )
            day = closed.closed_at.date()
            self.realized_by_day[day] = self.realized_by_day.get(day, ZERO) + closed.realized_pnl
        now_open = not self.position.is_flat
        if now_open and not was_open:
            self.open_since = at
        elif was_open and not now_open and self.open_since is not None:
            self.exposure += at - self.open_since
            self.open_since = None

    def _complete(self, signal: Signal, edits: SignalEdits | None) -> None:
        """The stop and target for the filled position, by the live desk's own rule."""
        set_levels_after_fill(self.position, signal, self.config, edits, self.instrument.tick_size)

    # ------------------------------------------------------------------ candles

    def _check_exits(self, index: int) -> None:
        candle = self.candles[index]
        position = self.position
        assert position.side is not None
        adverse, favourable = (
            (candle.low, candle.high) if position.side is PositionSide.LONG else (candle.high, candle.low)
        )
        kind: ExitKind | None = None
        price = ZERO
        at_open = exit_trigger(position, self._quote(candle.open, candle.time))
        if at_open is not None:
            kind, price = at_open.kind, candle.open  # gapped through: the open is the first price
        else:
            # The adverse extreme first: when the candle reaches both levels, the stop wins.
            for extreme in (adverse, favourable):
                hit = exit_trigger(position, self._quote(extreme, candle.time))
                if hit is not None:
                    kind, price = hit.kind, hit.level
                    break
        if kind is None:
            return
        word = kind.value.replace("_", " ")
        signal = Signal(
            action=SignalAction.CLOSE,
            price=price,
            shape=AlertShape.RSI,
            time=candle.time,
            message=f"{word} hit",
        )
        self._act(signal, index, candle.time, f"candle {candle.time.isoformat()}", -1, exit_reason=kind.value)

    def _check_window_end(self, index: int) -> None:
        """A position held when a candle starts outside the bot's trading window closes at
        its open (`flatten_at_window_end`), as the live monitor closes it at the window's end."""
        candle = self.candles[index]
        ended = window_end(self.config, candle.time)
        if ended is None:
            return
        signal = Signal(
            action=SignalAction.CLOSE, price=candle.open, shape=AlertShape.RSI, time=candle.time, message=ended
        )
        self._act(signal, index, candle.time, f"candle {candle.time.isoformat()}", -1, exit_reason="window_end")

    def _trail(self, index: int) -> None:
        """A trailing stop moves to the trail from the candle's best price for the position
        (a long's high, a short's low), after the candle was checked against the stop as it
        stood: within one candle the order of its prices is unknown, so a stop is never hit
        by a level the same candle made."""
        candle = self.candles[index]
        best = candle.high if self.position.side is PositionSide.LONG else candle.low
        level = trailed(self.config, self.position, best, self.instrument.tick_size)
        if level is not None:
            self.position.stop_loss = level

    def _check_daily_loss(self, index: int) -> None:
        """With `flatten_on_daily_loss`, a candle opening where the day's realized P&L plus the
        position's reaches `max_daily_loss` closes the position at that open, as the live monitor
        does at the quote; entries are then refused for the rest of the day."""
        candle = self.candles[index]
        realized = self.realized_by_day.get(candle.time.date(), ZERO)
        why = daily_loss(self.config, realized, self.position, candle.open)
        if why is None:
            return
        signal = Signal(
            action=SignalAction.CLOSE, price=candle.open, shape=AlertShape.RSI, time=candle.time, message=why
        )
        self._act(signal, index, candle.time, f"candle {candle.time.isoformat()}", -1, exit_reason="daily_loss")

    def _quote(self, price: Decimal, at: datetime) -> Quote:
        return Quote(self.instrument.symbol, price, price, price, at)

    def _check_resting(self, index: int) -> None:
        resting = self.resting
        assert resting is not None
        candle = self.candles[index]
        limit = resting.limit
        side = resting.legs[0].side
        if side is OrderSide.BUY:
            if not candle.low < limit:
                return
            price = min(candle.open, limit)
        else:
            if not candle.high > limit:
                return
            price = max(candle.open, limit)
        self.resting = None
        for leg in resting.legs:
            self._fill(leg, price, candle.time, "limit", resting.source)
        self._count_entry(candle.time)
        self._complete(resting.signal, self.edits.get(resting.order))

    def _cancel_resting(self, at: datetime, why: str) -> None:
        resting = self.resting
        if resting is None:
            return
        self.resting = None
        leg = resting.legs[0]
        reason = f"limit {leg.side.value} of {leg.quantity} at {resting.limit} not filled: {why}"
        self._skip(resting.order, at, resting.source, resting.signal.action, UNFILLED, reason)

    # ------------------------------------------------------------------ bookkeeping

    def _wrong_ticker(self, record: AlertRecord, signal: Signal) -> str | None:
        # As intake judges it: "{{exchange}}:{{ticker}}" is common, the exchange is not ours.
        for given in (record.ticker, signal.ticker):
            if given is not None and given.rsplit(":", 1)[-1].strip().upper() not in self.tickers:
                return f"the alert's ticker \"{given}\" is not bot {self.config.bot_name}'s ticker {self.config.ticker}"
        return None

    def _skip(
        self, order: int, at: datetime | None, source: str, action: SignalAction | None, outcome: str, reason: str
    ) -> None:
        key = at.timestamp() if at is not None else float("-inf")
        self.skipped.append(
            (key, order, SkippedAlert(at, source, action.value if action is not None else None, outcome, reason))
        )

    def _open_position(self) -> OpenPosition | None:
        position = self.position
        if position.side is None or position.average_price is None:
            return None
        mark = self.candles[-1].close
        return OpenPosition(
            side=position.side,
            quantity=position.quantity,
            average_price=position.average_price,
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
            mark_price=mark,
            unrealized_pnl=position.unrealized_pnl(mark),
            opened_at=position.opened_at,
        )


def _reason(plan: Plan) -> str:
    """close | reverse | reduce, from the plan's summary ("reduce 1 + breakeven" -> reduce)."""
    return plan.summary.split(" ", 1)[0] or "close"
