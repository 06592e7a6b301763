"""The monitor moves a trailing stop with the market, stores each move (told as StopMoved),
never loosens it, and closes the position once the quote reaches it."""

from __future__ import annotations

from decimal import Decimal

from tests.support.service_rig import Rig
from trading.domain.events import StopMoved, TradeClosed
from trading.domain.signals import SignalAction, SignalState


async def test_a_trail_ratchets_with_the_bid_then_closes(rig: Rig) -> None:
    bot = await rig.bot(trailing_stop_pct="1")
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    pos = await rig.position(bot)
    # Filled at the ask, 53,211: the trail from the entry is 1% under it, 52,678.89 -> 52,678.5 (tick 0.5).
    assert (pos.average_price, pos.stop_loss) == (Decimal(53211), Decimal("52678.5"))

    rig.broker.bid, rig.broker.ask = Decimal(54000), Decimal(54001)
    assert await rig.use_cases.monitors.check_exits() == []
    assert (await rig.position(bot)).stop_loss == Decimal(53460)  # 54,000 x 0.99
    assert rig.published(StopMoved)[-1].stop_loss == Decimal(53460)

    rig.broker.bid, rig.broker.ask = Decimal(53700), Decimal(53701)  # lower: the stop stays
    moves = len(rig.published(StopMoved))
    assert await rig.use_cases.monitors.check_exits() == []
    assert (await rig.position(bot)).stop_loss == Decimal(53460) and len(rig.published(StopMoved)) == moves

    rig.broker.bid, rig.broker.ask = Decimal(53450), Decimal(53451)  # through it
    (made,) = await rig.use_cases.monitors.check_exits()
    assert await rig.run(made) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    (trade,) = rig.published(TradeClosed)
    assert trade.realized_pnl == Decimal(53450 - 53211)  # a loss-making entry turned into a win by the trail


async def test_an_activation_keeps_the_position_watched_before_it_has_a_stop(rig: Rig) -> None:
    bot = await rig.bot(trailing_stop_pct="1", trailing_activation_pct="2")
    assert await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG)) is SignalState.EXECUTED
    assert (await rig.position(bot)).stop_loss is None
    rig.broker.bid, rig.broker.ask = Decimal(54000), Decimal(54001)  # 1.48% up: not yet
    assert await rig.use_cases.monitors.check_exits() == []
    assert (await rig.position(bot)).stop_loss is None
    rig.broker.bid, rig.broker.ask = Decimal(54300), Decimal(54301)  # 2.05% up: the trail starts
    assert await rig.use_cases.monitors.check_exits() == []
    assert (await rig.position(bot)).stop_loss == Decimal(53757)  # 54,300 x 0.99


async def test_the_card_shows_the_trail_the_entry_will_have(rig: Rig) -> None:
    bot = await rig.bot(mode="approve", trailing_stop_pct="1")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.PENDING_APPROVAL
    card = await rig.use_cases.queries.approval_card(sid)
    # 1% under the alert's 53,210.5 is 52,678.395, down to the 0.5 tick.
    assert card is not None and card.notes[-1] == "trailing stop 1% from the best price, from 52,678.0 at the entry"
