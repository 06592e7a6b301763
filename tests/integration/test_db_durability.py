"""A commit that returned survives SIGKILL: a child commits signals in a loop and is
killed at a random moment; every signal it reported committed is there, intact."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import signal
import sys
from pathlib import Path

from db.database import Database
from tests.integration.db_support import add_bot, full_signal, signal_time
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.records import StateChange
from trading.domain.signals import SignalState

ROOT = Path(__file__).resolve().parents[2]


async def _run_child_and_kill(url: str, bot_id: int, rng: random.Random) -> list[tuple[int, int]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.durability_child",
        url,
        str(bot_id),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        # Wait for the loop to be running, then kill it at a random moment within it.
        first = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert first, (await proc.stderr.read()).decode()
        await asyncio.sleep(rng.uniform(0.05, 0.6))
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), timeout=10)
    assert proc.returncode == -signal.SIGKILL
    rest = await proc.stdout.read()
    lines = [first.decode(), *rest.decode().splitlines(keepends=True)]
    # A line cut by the kill was never completely reported: only whole lines count.
    return [(int(a), int(b)) for a, b in (line.split() for line in lines if line.endswith("\n"))]


async def test_committed_signals_survive_sigkill(database_url: str) -> None:
    rng = random.Random()
    setup = Database(database_url, passphrases=TEST_PASSPHRASES)
    try:
        await setup.upgrade()
        bot = await add_bot(setup)
    finally:
        await setup.dispose()

    reported = await _run_child_and_kill(database_url, bot.id, rng)
    assert len(reported) >= 2

    reopened = Database(database_url, passphrases=TEST_PASSPHRASES)
    try:
        async with reopened.uow() as uow:
            stored = {s.id: s for s in await uow.signals.list(bot_id=bot.id, limit=1_000_000)}
    finally:
        await reopened.dispose()
    missing = [sid for sid, _ in reported if sid not in stored]
    assert not missing, f"{len(missing)} of {len(reported)} reported commits lost: {missing[:10]}"
    for signal_id, n in reported:
        got = stored[signal_id]
        assert got.signal == dataclasses.replace(full_signal(n), passphrase=None)
        assert got.state is SignalState.RECEIVED
        assert got.history == (StateChange(SignalState.RECEIVED, signal_time(n), "durability"),)
    # At most the one commit in flight at the kill can be stored without being reported.
    assert len(stored) - len(reported) in (0, 1)
