"""A long day stays flat (issue 25, item 4): 30 minutes at 10 alerts/s across 20 bots against
the Herenya simulator failing 5 % of requests, printing serve's RSS, open sockets, asyncio
tasks, database connections and database size every minute.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 10] [--bots 20] [--fault-rate 0.05]
                                   [--warmup-minutes 5] [--sample-seconds 60]

Passes (exit 0) when, after the warm-up, RSS grows by at most 10 %, tasks, database
connections and sockets do not grow (the last third's highest reading against the first
third's, beyond the noise of requests in flight), every alert was answered 200 and every
signal is final at the end. The judging is tests/e2e/soak_run.py's; tests/e2e/test_soak.py
runs 3 minutes of it in the test suite (tasks and connections only).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.procs import processes  # noqa: E402
from tests.e2e.soak_run import soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="alerts per second")
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of simulator requests answered 5xx")
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signaldesk-soak-") as tmp, processes(Path(tmp)) as procs:
        verdict = soak(
            procs,
            Path(tmp),
            minutes=args.minutes,
            rate=args.rate,
            bots=args.bots,
            fault_rate=args.fault_rate,
            warmup_minutes=args.warmup_minutes,
            sample_seconds=args.sample_seconds,
        )
    print(f"\nsignals at the end: {dict(verdict.states)}")
    if verdict.flat:
        print("flat: RSS, tasks, database connections and sockets held after the warm-up")
        return 0
    print("NOT flat:\n  " + "\n  ".join(verdict.problems))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
