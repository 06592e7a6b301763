"""SQLite's writer lock (db/writer_lock.py): in order, urgent waiters ahead of the queue,
handed over on release, and cancellation never losing or leaking the lock."""

from __future__ import annotations

import asyncio

import pytest

from db.writer_lock import WriterLock


async def _queue_up(lock: WriterLock, order: list[str], name: str, urgent: bool = False) -> None:
    await lock.acquire(urgent=urgent)
    order.append(name)
    await asyncio.sleep(0)  # hold it across a loop turn, as a transaction would
    lock.release()


async def _let_them_queue() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def _queued(lock: WriterLock, order: list[str], *names: str, urgent: bool = False) -> list[asyncio.Task[None]]:
    """Waiters named `names`, queued in that order."""
    tasks = [asyncio.create_task(_queue_up(lock, order, name, urgent)) for name in names]
    await _let_them_queue()
    return tasks


async def test_waiters_of_one_kind_are_served_in_arrival_order() -> None:
    lock = WriterLock()
    order: list[str] = []
    await lock.acquire()
    tasks = await _queued(lock, order, "w0", "w1", "w2", "w3")
    assert lock.waiting == 4
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["w0", "w1", "w2", "w3"]
    assert not lock.locked() and lock.waiting == 0


async def test_a_queued_urgent_writer_goes_ahead_of_the_queued_ordinary_ones() -> None:
    lock = WriterLock()
    order: list[str] = []
    await lock.acquire()
    tasks = await _queued(lock, order, "w0", "w1", "w2")
    tasks += await _queued(lock, order, "intake", urgent=True)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["intake", "w0", "w1", "w2"]


async def test_an_urgent_writer_coming_back_waits_behind_one_ordinary_writer_at_most() -> None:
    # The intake's committer asks again as soon as its batch is done: the lock has gone to
    # the oldest ordinary writer meanwhile, so neither kind starves the other.
    lock = WriterLock()
    order: list[str] = []
    await lock.acquire(urgent=True)
    tasks = await _queued(lock, order, "w0", "w1")
    lock.release()  # nobody urgent waits: w0's turn
    tasks += await _queued(lock, order, "intake", urgent=True)
    await asyncio.gather(*tasks)
    assert order == ["w0", "intake", "w1"]


async def test_the_lock_is_handed_over_so_a_newcomer_cannot_slip_in() -> None:
    lock = WriterLock()
    order: list[str] = []
    await lock.acquire()
    (queued,) = await _queued(lock, order, "queued")
    lock.release()  # handed to "queued", which has not run yet
    assert lock.locked()
    newcomer = asyncio.create_task(_queue_up(lock, order, "newcomer", urgent=True))
    await asyncio.gather(queued, newcomer)
    assert order == ["queued", "newcomer"]


@pytest.mark.parametrize("urgent", [False, True])
async def test_a_waiter_cancelled_in_the_queue_is_skipped(urgent: bool) -> None:
    lock = WriterLock()
    order: list[str] = []
    await lock.acquire()
    (gone,) = await _queued(lock, order, "gone", urgent=urgent)
    (kept,) = await _queued(lock, order, "kept")
    gone.cancel()
    await _let_them_queue()
    assert lock.waiting == 1
    lock.release()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert order == ["kept"]
    assert not lock.locked() and lock.waiting == 0


async def test_a_waiter_cancelled_after_release_chose_it_passes_the_lock_on() -> None:
    lock = WriterLock()
    order: list[str] = []
    await lock.acquire()
    chosen, after = await _queued(lock, order, "chosen", "after")
    lock.release()  # the turn is "chosen"'s now, but it has not resumed yet
    chosen.cancel()
    with pytest.raises(asyncio.CancelledError):
        await chosen
    await after
    assert order == ["after"]
    assert not lock.locked() and lock.waiting == 0


async def test_a_waiter_cancelled_while_its_turn_is_being_skipped_leaves_no_trace() -> None:
    lock = WriterLock()
    await lock.acquire()
    gone = asyncio.create_task(lock.acquire(urgent=True))
    await _let_them_queue()
    gone.cancel()
    lock.release()  # skips the cancelled turn before the task has run its clean-up
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert not lock.locked() and lock.waiting == 0
    await lock.acquire()  # still usable
    lock.release()


async def test_releasing_a_lock_not_held_is_an_error() -> None:
    lock = WriterLock()
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
