"""Risk-based size through the service (issue 17 item 6): the equity read from the broker's
account, the entry's contracts from it, the refusal of an entry without a stop."""

from __future__ import annotations

from decimal import Decimal

from tests.support.service_rig import ALICE, Rig
from trading.domain.events import SignalRefused
from trading.domain.signals import SignalAction, SignalState


async def test_an_auto_entry_is_sized_from_the_accounts_equity(rig: Rig) -> None:
    # 500000 x 1% = 5000; alert price 53210.5, stop 52600.5: 610 a contract; 5000 / 610 = 8.19 -> 8
    rig.broker.equity = Decimal("500000")
    bot = await rig.bot(risk_per_trade_pct="1")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG, stop_loss=Decimal("52600.5"))
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.book[f"sd-{sid}-1"].quantity == 8
    assert (await rig.position(bot)).quantity == 8


async def test_an_entry_without_a_stop_is_refused_with_the_reason(rig: Rig) -> None:
    rig.broker.equity = Decimal("500000")
    bot = await rig.bot(risk_per_trade_pct="1")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG)
    assert await rig.run(sid) is SignalState.REFUSED
    stored = await rig.stored(sid)
    assert stored.reason is not None and "sizes entries from the stop, and this entry has none" in stored.reason
    [refused] = rig.published(SignalRefused)
    assert refused.reason == stored.reason
    assert rig.broker.place_calls == 0


async def test_the_approval_card_shows_the_arithmetic(rig: Rig) -> None:
    rig.broker.equity = Decimal("100000")
    bot = await rig.bot(mode="approve", risk_per_trade_pct="2")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG, stop_loss=Decimal("52600.5"))
    await rig.run(sid)
    card = await rig.use_cases.queries.approval_card(sid)
    # 100000 x 2% = 2000; 2000 / 610 = 3.27 -> 3
    assert card is not None and card.quantity == 3
    assert card.sizing == (
        "2% of equity 100,000.00 ZAR = 2,000.00 ZAR; stop distance 610 × multiplier 1 = 610.00 ZAR per contract; "
        "2,000.00 ÷ 610.00 = 3.27 → 3 contracts"
    )
    assert (await rig.use_cases.decisions.approve(sid, ALICE)).ok
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.book[f"sd-{sid}-1"].quantity == 3


async def test_an_account_that_cannot_be_read_now_is_asked_again(rig: Rig) -> None:
    rig.broker.equity = Decimal("100000")
    bot = await rig.bot(risk_per_trade_pct="1")
    sid = await rig.signal(bot, SignalAction.ENTER_LONG, stop_loss=Decimal("52600.5"))
    rig.broker.faults.account_down = True
    result = await rig.use_cases.steps.advance(sid)
    assert (result.finished, result.note) == (False, "account unavailable")
    assert await rig.state(sid) is SignalState.RECEIVED and rig.broker.place_calls == 0
    rig.broker.faults.account_down = False
    assert await rig.run(sid) is SignalState.EXECUTED
    assert rig.broker.book[f"sd-{sid}-1"].quantity == 1
