"""Positions: saved and rebuilt exactly, fills recorded once, no interleaving under concurrency."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal

from db.database import Database
from db.types import to_exact
from tests.integration.db_support import T0, add_bot
from trading.domain.market import Instrument
from trading.domain.position import Fill, Position
from trading.domain.values import OrderSide, PositionSide

MULT = Decimal(10)


def fill(n: int, side: OrderSide, qty: int, price: str) -> Fill:
    return Fill(f"f-{n}", side, qty, Decimal(price), T0 + timedelta(minutes=n))


async def test_a_flat_position_when_none_is_stored(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        pos = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=MULT)
        await uow.commit()
    assert pos.is_flat and pos.side is None and pos.multiplier == MULT and pos.symbol == "SA40"
    async with database.uow() as uow:
        assert await uow.positions.list_open() == []


async def test_save_and_get_rebuild_the_position(database: Database) -> None:
    bot = await add_bot(database)
    pos = Position.flat("SA40", MULT, "Paper")
    pos.apply_fill(fill(1, OrderSide.BUY, 2, "100.5"))
    pos.apply_fill(fill(2, OrderSide.BUY, 1, "103"))
    pos.apply_fill(fill(3, OrderSide.SELL, 2, "110"))  # trims the newest level first
    pos.stop_loss, pos.take_profit = Decimal("95.25"), Decimal("120")
    async with database.uow() as uow:
        await uow.positions.save(bot.id, pos)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=MULT)
    assert got.entries == pos.entries
    assert got.side is PositionSide.LONG and got.quantity == 1
    # The average stays at the pre-reduce weighted mean, not the mean of what is left;
    # stored to 12 decimal places on both databases (Numeric(38, 12)).
    assert pos.average_price == Decimal("101.3333333333333333333333333")
    assert got.average_price == Decimal("101.333333333333")
    assert got.realized_pnl == to_exact(pos.realized_pnl) == Decimal("173.333333333333")
    assert (got.stop_loss, got.take_profit, got.opened_at) == (
        Decimal("95.25"),
        Decimal(120),
        T0 + timedelta(minutes=1),
    )
    assert got.applied_fill_ids == {"f-1"}


async def test_going_flat_keeps_realized_and_clears_entries(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        pos = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=MULT)
        pos.apply_fill(fill(1, OrderSide.SELL, 3, "100"))
        await uow.positions.save(bot.id, pos)
        await uow.commit()
    async with database.uow() as uow:
        assert [(b, p.side, p.quantity) for b, p in await uow.positions.list_open()] == [
            (bot.id, PositionSide.SHORT, 3)
        ]
        pos = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=MULT)
        pos.apply_fill(fill(2, OrderSide.BUY, 3, "90.5"))
        await uow.positions.save(bot.id, pos)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=MULT)
        assert await uow.positions.list_open() == []
    assert got.is_flat and got.realized_pnl == Decimal("285")  # (100 - 90.5) x 3 x 10


async def test_list_open_uses_the_instrument_multiplier(database: Database) -> None:
    bot = await add_bot(database)
    other = await add_bot(database, "Other", webhook_key="other_key_1234", symbol="TOP40")
    async with database.uow() as uow:
        await uow.instruments.upsert(Instrument("TOP40", contract_multiplier=Decimal(5)))
        for bot_id, symbol in ((bot.id, "SA40"), (other.id, "TOP40")):
            pos = Position.flat(symbol, account="Paper")
            pos.apply_fill(Fill(f"{symbol}-1", OrderSide.BUY, 1, Decimal(100), T0))
            await uow.positions.save(bot_id, pos)
        await uow.commit()
    async with database.uow() as uow:
        found = {p.symbol: (b, p.multiplier) for b, p in await uow.positions.list_open()}
    assert found == {"SA40": (bot.id, Decimal(1)), "TOP40": (other.id, Decimal(5))}


async def test_a_fill_id_is_recorded_once(database: Database) -> None:
    bot = await add_bot(database)
    f = fill(1, OrderSide.BUY, 1, "100")
    async with database.uow() as uow:
        assert await uow.positions.add_fill(bot.id, "sd-1-0", f)
        assert not await uow.positions.add_fill(bot.id, "sd-1-0", f)
        # The refused duplicate did not spoil the transaction.
        assert await uow.positions.add_fill(bot.id, "sd-1-0", fill(2, OrderSide.BUY, 1, "101"))
        await uow.commit()
    async with database.uow() as uow:
        assert not await uow.positions.add_fill(bot.id, "sd-9-0", f)
        await uow.commit()


async def _apply_concurrently(databases: list[Database], bot_id: int, fills: list[Fill]) -> None:
    async def one(i: int, f: Fill) -> None:
        db = databases[i % len(databases)]
        async with db.uow() as uow:
            pos = await uow.positions.get(bot_id, "SA40", account="Paper", multiplier=MULT, for_update=True)
            await asyncio.sleep(random.random() / 500)  # a broker round trip, inviting interleaving
            pos.apply_fill(f)
            assert await uow.positions.add_fill(bot_id, "sd-1-0", f)
            await uow.positions.save(bot_id, pos)
            await uow.commit()

    await asyncio.gather(*(one(i, f) for i, f in enumerate(fills)))


def _fills(n: int) -> list[Fill]:
    rng = random.Random(7)
    # Buys and sells against a long position that never flips, so any order of
    # application gives the same quantity and, with equal prices per side, the same P&L.
    out = [Fill(f"buy-{i}", OrderSide.BUY, rng.randint(1, 3), Decimal("100.5"), T0) for i in range(n)]
    out += [Fill(f"sell-{i}", OrderSide.SELL, 1, Decimal("100.5"), T0) for i in range(n // 3)]
    rng.shuffle(out)
    return out


async def _check_against_sequential(db: Database, bot_id: int, fills: list[Fill]) -> None:
    expected = Position.flat("SA40", MULT, "Paper")
    for f in fills:
        expected.apply_fill(f)
    async with db.uow() as uow:
        got = await uow.positions.get(bot_id, "SA40", account="Paper", multiplier=MULT, for_update=False)
    assert got.quantity == expected.quantity
    assert got.side is expected.side
    assert got.realized_pnl == expected.realized_pnl
    assert sum(e.quantity for e in got.entries) == sum(f.quantity for f in fills if f.side is OrderSide.BUY) - len(
        [f for f in fills if f.side is OrderSide.SELL]
    )


async def test_concurrent_fills_equal_the_sequential_result(database: Database) -> None:
    bot = await add_bot(database)
    fills = _fills(30)
    await _apply_concurrently([database], bot.id, fills)
    await _check_against_sequential(database, bot.id, fills)


async def test_concurrent_fills_from_two_processes_worth_of_engines(database: Database) -> None:
    # A second Database has its own in-process locks: only the database's own locking
    # (FOR UPDATE on PostgreSQL, the writer lock on SQLite) keeps the two apart.
    bot = await add_bot(database)
    second = Database(database.url)
    try:
        fills = _fills(20)
        await _apply_concurrently([database, second], bot.id, fills)
        await _check_against_sequential(database, bot.id, fills)
    finally:
        await second.dispose()


async def test_a_pyramid_closed_after_a_reload_realizes_exact_money(database: Database) -> None:
    """What `realized_pnl` in the API reads: -0.5, not -0.500000000001 from the stored average."""
    bot = await add_bot(database)
    pos = Position.flat("SA40", account="Paper")
    pos.apply_fill(fill(1, OrderSide.BUY, 1, "53211.5"))
    pos.apply_fill(fill(2, OrderSide.BUY, 2, "53211"))
    async with database.uow() as uow:
        await uow.positions.save(bot.id, pos)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=Decimal(1))
        got.apply_fill(fill(3, OrderSide.SELL, 3, "53211"))
        await uow.positions.save(bot.id, got)
        await uow.commit()
    async with database.uow() as uow:
        again = await uow.positions.get(bot.id, "SA40", account="Paper", multiplier=Decimal(1))
    assert again.is_flat and again.realized_pnl == Decimal("-0.5")
