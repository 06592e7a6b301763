"""What only the fake unit of work can show today: read-only units (the port gains
`read_only` with the one-database-path work; then this moves to the contract test)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.fake_uow import FakeDatabase, ReadOnlyUnit
from trading.domain.records import ControlState


async def test_a_read_only_unit_reads_the_last_commit_without_waiting_for_a_writer() -> None:
    db = FakeDatabase()
    async with db.uow() as writer:
        await writer.control.set(ControlState(halted=True, halted_by="cli"))
        await writer.commit()
    async with db.uow() as writer:
        await writer.control.set(ControlState())  # open and holding the writer lock
        async with asyncio.timeout(1), db.uow(read_only=True) as reader:
            assert (await reader.control.get()).halted  # the committed state, not the open change
        await writer.commit()
    async with db.uow(read_only=True) as reader:
        assert not (await reader.control.get()).halted


async def test_a_read_only_unit_refuses_to_write() -> None:
    db = FakeDatabase()
    async with db.uow(read_only=True) as reader:
        with pytest.raises(ReadOnlyUnit):
            await reader.control.set(ControlState(halted=True))
    async with db.uow() as unit:
        assert not (await unit.control.get()).halted
