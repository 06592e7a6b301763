"""A bot's trade-management fields (issue 29) are stored together, as one JSON object of
what differs from the defaults, and read back as given."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from db.database import Database
from tests.integration.db_support import bot_config
from tests.support.service_rig import make_rig
from trading.domain.approval_scope import Approve
from trading.domain.signals import SignalAction, SignalState

MANAGED = {
    "approve": "entries",
    "trading_hours": ["Mon-Fri 08:00-16:30", "Sun 22:00-02:00"],
    "trading_timezone": "Africa/Johannesburg",
    "flatten_at_window_end": True,
    "closed_dates": ["2026-12-25", "2027-01-01"],
    "max_trades_per_day": 3,
    "flatten_on_daily_loss": True,
    "max_open_risk": "2500.5",
    "trailing_stop_distance": "25",
    "trailing_activation_pct": "0.5",
    "approval_max_drift_pct": "0.5",
    "approval_limit_offset_pct": "0.1",
}


async def _stored_column(database: Database) -> object:
    async with database.engine.connect() as conn:
        return (await conn.execute(text("SELECT trade_management FROM trading_bots"))).scalar_one()


async def test_trade_management_round_trips_and_defaults_store_nothing(database: Database) -> None:
    config = bot_config(**MANAGED)
    async with database.uow() as uow:
        bot = await uow.bots.upsert(config)
        await uow.commit()
    async with database.uow() as uow:
        again = await uow.bots.get(bot.id)
    assert again is not None and again.config.approve is Approve.ENTRIES
    assert again.config.trading_hours == ("Mon-Fri 08:00-16:30", "Sun 22:00-02:00")
    assert again.config.closed_dates == (date(2026, 12, 25), date(2027, 1, 1))
    assert again.config == config.model_copy(
        update={"webhook_key": again.config.webhook_key, "passphrase": None, "signing_secret": None}
    )
    assert json.loads(str(await _stored_column(database))) == MANAGED

    async with database.uow() as uow:
        await uow.bots.upsert(bot_config())
        await uow.commit()
    async with database.uow() as uow:
        back = await uow.bots.get(bot.id)
    assert back is not None and back.config.approve is Approve.ALL
    assert await _stored_column(database) is None


async def test_trades_today_are_counted_by_the_database(database: Database) -> None:
    """max_trades_per_day's count (orders.entries_since) on each database: an entry and its
    add count, a close does not; the third entry of the day is refused."""
    rig = make_rig(database)
    bot = await rig.bot(max_trades_per_day=2)
    for action in (SignalAction.ENTER_LONG, SignalAction.ENTER_LONG, SignalAction.CLOSE):
        assert await rig.run(await rig.signal(bot, action)) is SignalState.EXECUTED
    third = await rig.signal(bot, SignalAction.ENTER_SHORT)
    assert await rig.run(third) is SignalState.REFUSED
    assert (await rig.stored(third)).reason == "2 of 2 trades today (max_trades_per_day)"


async def test_an_entrys_trailing_stop_is_stored_with_its_position(database: Database) -> None:
    rig = make_rig(database)
    bot = await rig.bot()
    entry = await rig.signal(bot, SignalAction.ENTER_LONG, trailing_stop=Decimal(2))
    assert await rig.run(entry) is SignalState.EXECUTED
    position = await rig.position(bot)
    # Filled at the fake broker's ask, 53,211: 2% under it is 52,146.78, down to the 0.5 tick.
    assert (position.trailing_pct, position.stop_loss) == (Decimal(2), Decimal("52146.5"))
    assert await rig.run(await rig.signal(bot, SignalAction.CLOSE)) is SignalState.EXECUTED
    assert (await rig.position(bot)).trailing_pct is None
