"""Alerts before executions: a lane's turn comes once the intake holds no alert, or after a
bounded wait."""

from __future__ import annotations

import asyncio

import pytest

from trading.services.alerts_first import AlertsFirst

pytestmark = pytest.mark.asyncio


async def test_the_turn_comes_at_once_when_the_intake_holds_nothing() -> None:
    gate = AlertsFirst(settle=30, at_most=30)
    async with asyncio.timeout(1):
        await gate.turn()
    assert gate.quiet


async def test_the_turn_waits_while_an_alert_is_held_and_comes_once_the_intake_settles() -> None:
    gate = AlertsFirst(settle=0.01, at_most=30)
    with gate.holding():
        turn = asyncio.create_task(gate.turn())
        with gate.holding():  # a second alert arrives meanwhile
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)
        assert not turn.done()  # one alert is still held
        assert not gate.quiet
    async with asyncio.timeout(5):
        await turn
    assert gate.quiet


async def test_an_alert_arriving_before_the_intake_settled_keeps_the_turn_waiting() -> None:
    gate = AlertsFirst(settle=30, at_most=30)
    with gate.holding():
        pass
    turn = asyncio.create_task(gate.turn())
    await asyncio.sleep(0.05)
    assert not turn.done()  # quiet only once nothing was held for `settle`
    turn.cancel()


async def test_a_lane_is_delayed_never_starved() -> None:
    gate = AlertsFirst(settle=0, at_most=0.05)
    with gate.holding():  # the intake never goes quiet
        async with asyncio.timeout(5):
            await gate.turn()
        assert not gate.quiet


async def test_durations_are_checked() -> None:
    with pytest.raises(ValueError, match="durations in seconds"):
        AlertsFirst(settle=-1)
