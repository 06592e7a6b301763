"""The stop monitor: a position whose stop the market reached is closed, once."""

from __future__ import annotations

from tests.unit.services.rig import Rig
from trading.domain.events import Notice, TradeClosed
from trading.domain.signals import SignalAction, SignalState


async def test_the_stop_monitor_closes_a_position_whose_stop_was_hit(rig: Rig) -> None:
    bot = await rig.bot(stop_loss_pct="1")
    await rig.run(await rig.signal(bot, SignalAction.ENTER_LONG))
    pos = await rig.position(bot)
    assert pos.stop_loss is not None and pos.average_price is not None and pos.stop_loss < pos.average_price

    assert await rig.desk.check_exits() == []  # the market has not reached it
    rig.broker.bid, rig.broker.ask = pos.stop_loss - 10, pos.stop_loss - 9
    (made,) = await rig.desk.check_exits()
    assert await rig.desk.check_exits() == []  # never twice for the same position
    notices = rig.published(Notice)
    assert notices and notices[-1].signal_id == made and "stop loss" in notices[-1].message

    assert await rig.run(made) is SignalState.EXECUTED
    assert (await rig.position(bot)).is_flat
    (trade,) = rig.published(TradeClosed)
    assert trade.exit_price == pos.stop_loss - 10
    assert trade.realized_pnl == pos.stop_loss - 10 - pos.average_price
    assert trade.realized_pnl < 0
