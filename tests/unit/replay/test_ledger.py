"""The decision ledger computed by hand (issue 30, items 2, 3 and 6).

One bot (1 contract, no pyramiding, exit on the opposite signal, no stop or target, SA40:
multiplier 1, tick 0.5), six signals over fifteen one-minute candles written by hand. Every
alert's price lies inside its candle's range, so the replay fills it at the alert's price.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.unit.replay.helpers import SA40, bot
from trading.domain.candles import Candle
from trading.domain.records import SignalEdits
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import PositionSide
from trading.replay.ledger import DecidedSignal, DeskOpen, DeskTrade, compute_ledger

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


def d(value: object) -> Decimal:
    return Decimal(str(value))


def bars(*ohlc: tuple[object, object, object, object], skip: tuple[int, ...] = ()) -> list[Candle]:
    return [Candle(at(i), *(d(p) for p in bar)) for i, bar in enumerate(ohlc) if i not in skip]


CANDLES = bars(
    (99, 100, 99, 100),  # 09:00
    (100, 101, 99, 101),  # 09:01  S1 long @100
    (101, 103, 101, 103),  # 09:02
    (105, 110, 105, 109),  # 09:03  S2 close long @110
    (109, 109, 107, 108),  # 09:04
    (108, 108, 106, 107),  # 09:05  S3 short @108
    (107, 107, 105, 105),  # 09:06
    (105, 105, 103, 103),  # 09:07  S4 long @104
    (103, 104, 103, 104),  # 09:08
    (104, 106, 104, 105),  # 09:09  S5 short @106
    (105, 108, 105, 108),  # 09:10
    (108, 109, 107, 109),  # 09:11  S6 close long @109
    (109, 110, 108, 110),  # 09:12
    (110, 111, 109, 111),  # 09:13
    (111, 112, 110, 112),  # 09:14  the last close: 112, what open positions are marked to
)


def signal(action: SignalAction, price: object, minute: int) -> Signal:
    return Signal(action=action, price=d(price), shape=AlertShape.RSI, time=at(minute, 30))


def decided(
    signal_id: int,
    action: SignalAction,
    price: object,
    minute: int,
    decision: str,
    approver: str | None,
    after: int,
    edits: SignalEdits | None = None,
) -> DecidedSignal:
    s = signal(action, price, minute)
    assert s.time is not None
    return DecidedSignal(signal_id, s.time, s, decision, approver, s.time, s.time + timedelta(seconds=after), edits)


SIGNALS = [
    # approved as sent, after 30 s
    decided(1, SignalAction.ENTER_LONG, 100, 1, "approved", "alice", 30),
    # a rejected close, after 60 s
    decided(2, SignalAction.CLOSE_LONG, 110, 3, "rejected", "alice", 60),
    # a reversal, approved after 20 s
    decided(3, SignalAction.ENTER_SHORT, 108, 5, "approved", "alice", 20),
    # approved after an edit of quantity (1 -> 2), after 40 s
    decided(4, SignalAction.ENTER_LONG, 104, 7, "edited", "bob", 40, SignalEdits(quantity=2)),
    # rejected (an entry that would reverse), after 10 s
    decided(5, SignalAction.ENTER_SHORT, 106, 9, "rejected", "bob", 10),
    # expired after 5 minutes: no one's decision, not in the median
    decided(6, SignalAction.CLOSE_LONG, 109, 11, "expired", None, 300),
]

# What the live desk did with them, filled at the broker's price once decided:
# S1 long 1 filled @101 at 09:02:00;
# S3 reversed at 09:05:50 @107: the long closed 101 -> 107 = +6, short 1 @107;
# S4 (2 contracts) reversed at 09:08:10 @104.5: the short closed 107 -> 104.5 = +2.5, long 2 @104.5;
# S5 rejected, S6 expired: the long 2 @104.5 is still open, marked to 112: (112 - 104.5) x 2 = +15.
DESK_TRADES = [
    DeskTrade(3, at(2), at(5, 50), d(6)),
    DeskTrade(4, at(5, 50), at(8, 10), d("2.5")),
]
DESK_OPEN = DeskOpen(PositionSide.LONG, 2, d("104.5"), d(1), at(8, 10))


def test_six_decisions_against_the_bot_alone_every_figure_by_hand() -> None:
    ledger = compute_ledger("Ledger_Bot", bot(), SA40, SIGNALS, DESK_TRADES, DESK_OPEN, CANDLES)

    # Decisions: approved S1, S3; edited S4; rejected S2, S5; expired S6.
    assert ledger.decisions == {"approved": 2, "edited": 1, "rejected": 2, "expired": 1}
    # Times to decide (the expiry left out): 30, 60, 20, 40, 10 -> sorted 10 20 30 40 60 -> 30.
    assert ledger.median_seconds_to_decide == 30.0

    # The bot alone (every signal as sent, at the alert's price):
    #   S1 long 1 @100; S2 closes it @110: +10; S3 short 1 @108 (from flat);
    #   S4 reverses @104: the short +4, long 1 @104; S5 reverses @106: the long +2, short 1 @106;
    #   S6 (close long) is ignored while short; the short is open, marked to 112: -6.
    #   10 + 4 + 2 - 6 = 10.
    assert ledger.bot_alone_pnl == d(10)
    # The desk: +6 + 2.5 realized, +15 open = 23.5.
    assert ledger.desk_pnl == d("23.5")
    # edge = 23.5 - 10 = 13.5
    assert ledger.edge == d("13.5")

    # As decided, unedited (S1, S3, S4 at 1 contract):
    #   S1 long @100; S3 reverses @108: +8, short @108; S4 reverses @104: +4, long 1 @104,
    #   open, marked to 112: +8. 8 + 4 + 8 = 20. Rejections (and the expiry): 20 - 10 = +10.
    assert ledger.rejections == d(10)
    # As decided and edited (S4 at 2 contracts): 8 + 4 + (112 - 104) x 2 = 28. Edits: 28 - 20 = +8.
    assert ledger.edits == d(8)
    # Waiting: the desk against the same decisions at the alert's prices: 23.5 - 28 = -4.5
    # (S1 paid 101 not 100: -1; S3 sold 107 not 108: -1 on the long's close, -1 on the short;
    # S4 bought 104.5 not 104: -0.5 on the short's close, -0.5 x 2 on the long: -4.5).
    assert ledger.waiting == d("-4.5")
    assert ledger.rejections + ledger.edits + ledger.waiting == ledger.edge

    # The shadows: the bot alone's trades, each opened and closed by a signal, the last open.
    assert [(s.opened_by, s.closed_by, s.side, s.quantity, s.pnl, s.reason) for s in ledger.shadows] == [
        (1, 2, "long", 1, d(10), "close"),
        (3, 4, "short", 1, d(4), "reverse"),
        (4, 5, "long", 1, d(2), "reverse"),
        (5, None, "short", 1, d(-6), "open"),
    ]
    assert ledger.open_shadows == 1
    assert ledger.excluded == ()
    # The equity curves: from the first signal's minute, a point per counted trade (the desk's
    # at its fills, the bot alone's at the alerts), the open positions' marks at the last candle.
    assert [(p[0], p[1], p[2]) for p in ledger.curve] == [
        (at(1), d(0), d(0)),
        (at(3, 30), d(0), d(10)),
        (at(5, 50), d(6), d(10)),
        (at(7, 30), d(6), d(14)),
        (at(8, 10), d("8.5"), d(14)),
        (at(9, 30), d("8.5"), d(16)),
        (at(14), d("23.5"), d(10)),
    ]

    # Per approver: only their own rejections (then edits) against the bot alone (10).
    alice, bob = ledger.approvers
    # alice approved S1 and S3, rejected S2 (30, 60, 20 s: median 30). Without S2:
    #   S1 long @100; S3 reverses @108: +8; S4 reverses @104: +4; S5 reverses @106: +2, short @106;
    #   S6 ignored; open short marked to 112: -6. 8 + 4 + 2 - 6 = 8: her rejection cost 8 - 10 = -2.
    assert (alice.approver, alice.decisions, alice.median_seconds_to_decide) == (
        "alice",
        {"approved": 2, "edited": 0, "rejected": 1, "expired": 0},
        30.0,
    )
    assert (alice.rejections, alice.edits) == (d(-2), d(0))
    # bob edited S4 and rejected S5 (40, 10 s: median 25). Without S5:
    #   S1 long @100; S2 +10; S3 short @108; S4 reverses @104: +4, long 1; S6 closes @109: +5. 19:
    #   his rejection saved 19 - 10 = +9. With his edit (S4 at 2): 10 + 4 + (109 - 104) x 2 = 24: +5.
    assert (bob.approver, bob.decisions, bob.median_seconds_to_decide) == (
        "bob",
        {"approved": 0, "edited": 1, "rejected": 1, "expired": 0},
        25.0,
    )
    assert (bob.rejections, bob.edits) == (d(9), d(5))


def test_a_shadow_over_a_gap_in_the_candles_is_left_out_and_reported() -> None:
    # Flat candles (open = high = low = close) from 09:00 to 09:09, with 09:05 missing.
    prices = (100, 100, 101, 101, 102, 0, 103, 103, 103, 105)
    candles = bars(*[(p, p, p, p) for p in prices], skip=(5,))
    signals = [
        decided(1, SignalAction.ENTER_LONG, 100, 1, "approved", "alice", 10),
        decided(2, SignalAction.ENTER_SHORT, 102, 5, "rejected", "alice", 10),  # in the missing minute
        decided(3, SignalAction.CLOSE_LONG, 103, 7, "approved", "alice", 10),
        decided(4, SignalAction.ENTER_LONG, 103, 8, "approved", "alice", 10),
    ]
    # The desk: the long 09:01:40 -> 09:07:40, +3 (its life spans 09:05 too); then long @103 open.
    trades = [DeskTrade(3, at(1, 40), at(7, 40), d(3))]
    desk_open = DeskOpen(PositionSide.LONG, 1, d(103), d(1), at(8, 40))
    ledger = compute_ledger("Gap_Bot", bot(), SA40, signals, trades, desk_open, candles)

    # The bot alone: S1 long @100 closed by S3 @103 (+3) spans 09:05: left out. S2 has no
    # candle: not acted on, reported. S4 long @103, open, marked to 09:09's close 105: +2.
    assert ledger.bot_alone_pnl == d(2)
    # The desk: its trade over the gap is left out too; its open long is +2.
    assert ledger.desk_pnl == d(2)
    assert ledger.edge == d(0)
    assert ledger.excluded == (
        "long 1 opened 2026-03-02 09:01: no candle for 1 minute(s) of its life, the first 2026-03-02 09:05 UTC",
        "signal #2 at 2026-03-02 09:05: no candle for its minute",
        "desk trade closed 2026-03-02 09:07: no candle for 1 minute(s) of its life, the first 2026-03-02 09:05 UTC",
    )
    assert [(s.opened_by, s.pnl, s.excluded is not None) for s in ledger.shadows] == [
        (1, d(3), True),
        (4, d(2), False),
    ]
    assert ledger.open_shadows == 1


def test_too_few_candles_says_so_and_counts_nothing() -> None:
    signals = [decided(1, SignalAction.ENTER_LONG, 100, 1, "approved", "alice", 10)]
    ledger = compute_ledger("Bare_Bot", bot(), SA40, signals, [], None, CANDLES[:1])
    assert (ledger.desk_pnl, ledger.bot_alone_pnl, ledger.edge) == (d(0), d(0), d(0))
    assert ledger.excluded == ("fewer than two candles stored for the period",)
    assert ledger.decisions["approved"] == 1
