"""A long day stays flat, in 3 minutes (issue 25, item 4; bench/soak.py runs the 30): 10
alerts/s across 20 bots against the simulator failing 5 % of requests. After a minute's
warm-up the process's asyncio tasks and database connections (and its sockets) do not
grow, every alert is answered 200 and every signal is final at the end. Memory is judged
only by the long run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import Processes, processes
from tests.e2e.soak_run import soak

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def test_three_minutes_stay_flat(procs: Processes, tmp_path: Path) -> None:
    verdict = soak(
        procs,
        tmp_path,
        minutes=3.0,
        rate=10.0,
        bots=20,
        fault_rate=0.05,
        warmup_minutes=1.0,
        sample_seconds=15.0,
        rss_growth=None,
    )
    lines = "\n".join(s.line() for s in verdict.samples)
    assert verdict.flat, "\n".join(verdict.problems) + "\n" + lines
