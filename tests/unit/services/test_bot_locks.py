"""The bots' locks with several processes: a bot whose lane another process runs is told,
never waited for; a lane taken is let go and the bot woken; a cluster that cannot answer
counts as another process."""

from __future__ import annotations

import asyncio

from trading.services.locks import BotLocks


class Lanes:
    """The cluster as the locks see it: lanes held by another process, or no answer at all."""

    def __init__(self, elsewhere: frozenset[int] = frozenset(), down: bool = False) -> None:
        self.elsewhere = elsewhere
        self.down = down
        self.held: list[int] = []

    @property
    def is_leader(self) -> bool:
        return True

    @property
    def shared(self) -> bool:
        return True

    async def take_lane(self, bot_id: int) -> bool:
        if self.down:
            raise ConnectionError("the cluster connection is down")
        if bot_id in self.elsewhere:
            return False
        self.held.append(bot_id)
        return True

    async def release_lane(self, bot_id: int) -> None:
        self.held.remove(bot_id)


async def test_lanes_another_process_runs_are_named_and_the_rest_held_then_woken() -> None:
    lanes, woken = Lanes(elsewhere=frozenset({2})), list[int]()
    locks = BotLocks(lanes, released=woken.append)
    async with locks.hold([3, 2, 1, 3]) as elsewhere:
        assert elsewhere == {2}
        assert lanes.held == [1, 3]
        assert locks.of(1).locked() and locks.of(3).locked()
    assert lanes.held == [] and woken == [1, 3]
    assert not locks.of(1).locked()


async def test_a_cluster_that_cannot_answer_counts_as_another_process() -> None:
    woken: list[int] = []
    locks = BotLocks(Lanes(down=True), released=woken.append)
    async with locks.hold([5]) as elsewhere:
        assert elsewhere == {5}
    assert woken == []


async def test_one_process_alone_holds_its_locks_only() -> None:
    locks, woken = BotLocks(), list[int]()
    async with locks.hold([1]) as elsewhere:
        assert elsewhere == frozenset()
        # A second holder in this process waits for the first.
        second = asyncio.create_task(_hold(locks, 1))
        await asyncio.sleep(0.01)
        assert not second.done()
    await second
    assert woken == []


async def _hold(locks: BotLocks, bot_id: int) -> None:
    async with locks.hold([bot_id]):
        pass
