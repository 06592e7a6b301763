"""Issue 22's speed floors for several checkouts in one sitting: one Markdown table.

    .venv/bin/python bench/compare.py --root /work/wt-bench --root /work/co-b6ac63f --root /work/co-c8c7548
                                      [--scale full|smoke] [--only webhook,burst-sqlite,...] [--baseline ROOT]
                                      [--logs DIR] [--out FILE] [--timeout-factor 1.0] [--rounds 1]

Runs, for every --root (its `.venv/bin/signaldesk serve`; the load generators, the simulator
and this script stay this checkout's), each benchmark below as its own process, one at a
time, and reads back the figures each writes with --json:

    webhook        bench/webhook.py --rates '' --ceiling   closed loop, 32 connections, and the bare-app ceiling
    burst-sqlite   bench/burst.py                          300 alerts for 60 bots within 1 s, SQLite
    burst-pg       bench/burst.py --postgres               the same on a throwaway PostgreSQL cluster
    pipeline       bench/pipeline.py --rates 20            received -> order p99, serve's CPU per executed signal
    side-by-side   bench/side_by_side.py                   60 bots, broker +100 ms a call, 50 signals/s
    busy-intake    bench/side_by_side.py --rate 100        100 alerts/s while 60 bots execute: webhook answer p99
    history        bench/history.py                        CPU per executed signal, empty vs 100k trades + signals

The order is benchmark by benchmark, every checkout in turn within each, so that the
figures compared with each other in a row were measured minutes apart, not a whole
checkout's set apart. Every run is bounded by a timeout (SIGINT first, so the benchmark
stops its processes and its PostgreSQL cluster; then the process group is killed). A
benchmark that fails against a checkout (an older one may lack what it needs) gives "n/a"
with the reason beneath the table; its output is kept in --logs.

--rounds N runs the webhook and the history N times, every checkout in turn each round (each
webhook serve stopped right after its closed loop, bench/webhook.py --no-drain): on this
machine one closed loop and its ceiling move by a fifth from one run to the next, and the
history's change by a tenth, so one run cannot tell a tenth apart. Their cells are then the
medians, and every round's figures are listed beneath.

--scale full is the issue's load (about 4-8 minutes per checkout on 2 cores, depending on
how fast the checkout is); --scale smoke is a small load that only shows everything runs.
All traffic is on loopback. The machine must be otherwise quiet for the figures to mean
anything: the load average is printed beside every run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BASELINE_COMMIT = "c8c7548"  # the old design with prepared statements, issue 22's reference


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    options: dict[str, list[str]]  # per scale
    timeout: dict[str, float]  # seconds, per scale


BENCHES = [
    Bench(
        "webhook",
        "webhook.py",
        {
            "full": ["--rates", "", "--seconds", "10", "--concurrency", "32", "--ceiling"],
            "smoke": ["--rates", "", "--seconds", "3", "--concurrency", "32", "--ceiling"],
        },
        {"full": 420, "smoke": 240},
    ),
    Bench(
        "burst-sqlite",
        "burst.py",
        {
            "full": ["--bots", "60", "--per-bot", "5", "--window", "1.0", "--timeout", "120"],
            "smoke": ["--bots", "20", "--per-bot", "3", "--window", "1.0", "--timeout", "60"],
        },
        {"full": 300, "smoke": 180},
    ),
    Bench(
        "burst-pg",
        "burst.py",
        {
            "full": ["--bots", "60", "--per-bot", "5", "--window", "1.0", "--timeout", "120", "--postgres"],
            "smoke": ["--bots", "20", "--per-bot", "3", "--window", "1.0", "--timeout", "60", "--postgres"],
        },
        {"full": 300, "smoke": 180},
    ),
    Bench(
        "pipeline",
        "pipeline.py",
        {
            # 300 signals: enough for a p99 that is not the single slowest one.
            "full": ["--rates", "20", "--seconds", "15", "--bots", "20"],
            "smoke": ["--rates", "20", "--seconds", "3", "--bots", "10"],
        },
        {"full": 300, "smoke": 180},
    ),
    Bench(
        "side-by-side",
        "side_by_side.py",
        {
            "full": ["--bots", "60", "--rate", "50", "--seconds", "10", "--latency", "0.1", "--timeout", "180"],
            "smoke": ["--bots", "20", "--rate", "20", "--seconds", "3", "--latency", "0.1", "--timeout", "60"],
        },
        {"full": 420, "smoke": 180},
    ),
    Bench(
        "busy-intake",
        "side_by_side.py",
        {
            "full": ["--bots", "60", "--rate", "100", "--seconds", "5", "--latency", "0.1", "--timeout", "180"],
            "smoke": ["--bots", "20", "--rate", "50", "--seconds", "2", "--latency", "0.1", "--timeout", "60"],
        },
        {"full": 420, "smoke": 180},
    ),
    Bench(
        "history",
        "history.py",
        {
            # 20/s as pipeline.py's rate, which the slowest design still carries without
            # a queue that would make the two runs differ by more than the history.
            "full": ["--trades", "100000", "--signals", "100000", "--rate", "20", "--seconds", "10", "--bots", "20"],
            "smoke": ["--trades", "10000", "--signals", "10000", "--rate", "20", "--seconds", "3", "--bots", "10"],
        },
        {"full": 600, "smoke": 240},
    ),
]


@dataclass
class Outcome:
    figures: dict[str, Any] | None
    reason: str | None  # why there are no figures
    seconds: float


def commit_of(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "?"


def last_words(log: Path) -> str:
    """Why a run failed, from its output: the last exception's line (SystemExit's message is
    printed bare), else the last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Exit|Interrupt)\b", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def run(bench: Bench, root: Path, scale: str, logs: Path, factor: float = 1.0, round_no: int | None = None) -> Outcome:
    tag = f"{bench.name}-{root.name}" + (f"-round{round_no}" if round_no is not None else "")
    log, figures = logs / f"{tag}.log", logs / f"{tag}.json"
    argv = [
        sys.executable,
        str(HERE / bench.script),
        *bench.options[scale],
        # Several rounds: serve stops after its closed loop, without waiting for its executions.
        *(["--no-drain"] if round_no is not None and bench.name == "webhook" else []),
        "--root",
        str(root),
        "--json",
        str(figures),
    ]
    timeout = bench.timeout[scale] * factor
    started = time.monotonic()
    with log.open("wb") as out:
        out.write(f"$ {shlex.join(argv)}\n".encode())
        out.flush()
        # A session of its own, so that on a timeout the whole group can go.
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=HERE.parent)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            # SIGINT first: KeyboardInterrupt runs the benchmark's clean-up (its serve,
            # simulator and PostgreSQL cluster are in sessions of their own).
            child.send_signal(signal.SIGINT)
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            return Outcome(None, f"timed out after {timeout:g} s", time.monotonic() - started)
    took = time.monotonic() - started
    if code != 0:
        return Outcome(None, f"exit {code}: {last_words(log)}", took)
    if not figures.exists():
        return Outcome(None, "no figures written", took)
    return Outcome(json.loads(figures.read_text()), None, took)


# --- the table ------------------------------------------------------------------------------


def num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def answers(f: dict[str, Any]) -> str:
    other = f["answered_otherwise"]
    detail = " (" + ", ".join(f"{k}: {v}" for k, v in other.items()) + ")" if other else ""
    return f"{f['answered_200']} / {sum(other.values())}{detail}"


@dataclass(frozen=True)
class Row:
    bench: str
    label: str
    cell: Callable[[dict[str, Any], dict[str, Any] | None], str]  # (figures, baseline's figures)
    floor: str


def versus_baseline(f: dict[str, Any], base: dict[str, Any] | None) -> str:
    if f.get("versus_baseline") is not None:  # several rounds: the median of each round's own ratio
        return num(f["versus_baseline"], ".2f") + "×"
    if base is None or not base.get("closed_loop_per_s"):
        return "–"
    return f"{f['closed_loop_per_s'] / base['closed_loop_per_s']:.2f}×"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# The benchmarks --rounds repeats (their figures move by a tenth or more from run to run on
# this machine): the figures whose medians the table gives, and how one round is written.
ROUNDED: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], str]]] = {
    "webhook": (
        ("closed_loop_per_s", "ceiling_per_s", "ceiling_ratio"),
        lambda f: f"{f['closed_loop_per_s']:,.0f} against {f['ceiling_per_s']:,.0f} ({f['ceiling_ratio']:.2f})",
    ),
    "history": (
        ("cpu_ms_empty", "cpu_ms_full", "change_pct"),
        lambda f: f"{f['cpu_ms_empty']:.1f} → {f['cpu_ms_full']:.1f} ms ({f['change_pct']:+.0f} %)",
    ),
}


def merge_rounds(
    bench: str, rounds: dict[Path, list[Outcome]], baseline: Path | None
) -> tuple[dict[Path, Outcome], list[str]]:
    """A benchmark's figures over several rounds: each checkout's medians (for the webhook also
    the median of its ratio to the baseline's run of the same round), and one line per
    checkout with every round's figures."""
    keys, shown = ROUNDED[bench]
    merged: dict[Path, Outcome] = {}
    lines: list[str] = []
    for root, outcomes in rounds.items():
        base = rounds.get(baseline) if baseline is not None else None
        runs = [o.figures for o in outcomes if o.figures is not None]
        if not runs:
            merged[root] = outcomes[0]
            continue
        figures = dict(runs[0])
        for key in keys:
            figures[key] = median([f[key] for f in runs if f.get(key) is not None] or [math.nan])
        if bench == "webhook" and base is not None:
            against = [
                f["closed_loop_per_s"] / b.figures["closed_loop_per_s"]
                for f, b in zip([o.figures for o in outcomes], base, strict=False)
                if f is not None and b.figures is not None and b.figures.get("closed_loop_per_s")
            ]
            figures["versus_baseline"] = median(against) if against else None
        merged[root] = Outcome(figures, None, sum(o.seconds for o in outcomes))
        lines.append(f"- {root.name}: " + "; ".join(shown(f) for f in runs))
    return merged, lines


def burst_rows(bench: str, db: str) -> list[Row]:
    return [
        Row(bench, f"burst ({db}): answered 200 / otherwise", lambda f, _: answers(f), "all 200"),
        Row(bench, f"burst ({db}): slowest answer", lambda f, _: num(f["answer_max_ms"], ",.0f") + " ms", "≤ 1,000 ms"),
        Row(
            bench,
            f"burst ({db}): first alert → every signal final",
            lambda f, _: num(f["all_final_s"], ".1f") + " s" + ("" if f["all_final"] else " (not all final)"),
            "≤ 10 s",
        ),
    ]


def rate20(f: dict[str, Any]) -> dict[str, Any]:
    return dict(f.get("20") or next(iter(f.values())))


ROWS = [
    Row(
        "webhook",
        "webhook closed loop (32 conn.): accepted alerts/s",
        lambda f, _: num(f["closed_loop_per_s"], ",.0f"),
        "",
    ),
    Row(
        "webhook",
        "bare Quart on Hypercorn, same load (ceiling): alerts/s",
        lambda f, _: num(f["ceiling_per_s"], ",.0f"),
        "",
    ),
    Row("webhook", "signaldesk / ceiling", lambda f, _: num(f["ceiling_ratio"], ".2f"), "≥ 0.50"),
    Row("webhook", f"signaldesk / {BASELINE_COMMIT} (this sitting)", versus_baseline, "≥ 0.90"),
    *burst_rows("burst-sqlite", "SQLite"),
    *burst_rows("burst-pg", "PostgreSQL"),
    Row(
        "pipeline",
        "pipeline 20 signals/s: received → order p99",
        lambda f, _: num(rate20(f)["received_to_order_p99_ms"], ",.1f") + " ms",
        "≤ 50 ms",
    ),
    Row(
        "pipeline",
        "pipeline 20 signals/s: serve's CPU per executed signal (both HTTP sides)",
        lambda f, _: num(rate20(f)["cpu_ms_per_executed_signal"], ".1f") + " ms",
        "≤ 25 ms",
    ),
    Row("side-by-side", "side by side (broker +100 ms): answered 200 / otherwise", lambda f, _: answers(f), "all 200"),
    Row("side-by-side", "side by side: executed / sent", lambda f, _: f"{f['executed']} / {f['alerts']}", "all"),
    Row("side-by-side", "side by side: bots in order", lambda f, _: f"{f['bots_in_order']} / {f['bots']}", "all"),
    Row(
        "side-by-side",
        "side by side: received → fill p99",
        lambda f, _: num(f["received_to_fill_p99_ms"], ",.0f") + " ms",
        "≤ 400 ms",
    ),
    Row("busy-intake", "100 alerts/s, 60 bots executing: answered 200 / otherwise", lambda f, _: answers(f), "all 200"),
    Row(
        "busy-intake",
        "100 alerts/s, 60 bots executing: webhook answer p99",
        lambda f, _: num(f.get("answer_p99_ms"), ",.0f") + " ms",
        "≤ 100 ms",
    ),
    Row(
        "history",
        "history: CPU per executed signal, empty database",
        lambda f, _: num(f["cpu_ms_empty"], ".1f") + " ms",
        "",
    ),
    Row(
        "history",
        "history: the same with {trades} trades + {signals} signals",
        lambda f, _: num(f["cpu_ms_full"], ".1f") + " ms",
        "",
    ),
    Row("history", "history: change", lambda f, _: num(f["change_pct"], "+.0f") + " %", "≤ +10 %"),
]


def table(
    roots: list[Path], results: dict[tuple[str, Path], Outcome], baseline: Path | None, benches: list[str]
) -> tuple[str, list[str]]:
    heads = [f"{r.name} ({commit_of(r)})" for r in roots]
    lines = ["| figure | " + " | ".join(heads) + " | floor |", "|---" * (len(roots) + 2) + "|"]
    notes: list[str] = []
    note_of: dict[str, int] = {}
    history_sizes = next((o.figures for (b, _), o in results.items() if b == "history" and o.figures is not None), None)
    for row in ROWS:
        if row.bench not in benches:
            continue
        sizes = history_sizes or {"trades": "?", "signals": "?"}
        label = (
            row.label.format(trades=format(sizes["trades"], ","), signals=format(sizes["signals"], ","))
            if "{" in row.label
            else row.label
        )
        cells = []
        for root in roots:
            outcome = results.get((row.bench, root))
            if outcome is None:
                cells.append("–")
            elif outcome.figures is None:
                reason = f"{row.bench} against {root.name}: {outcome.reason}"
                if reason not in note_of:
                    notes.append(reason)
                    note_of[reason] = len(notes)
                cells.append(f"n/a [{note_of[reason]}]")
            else:
                base = results.get((row.bench, baseline)) if baseline is not None else None
                try:
                    cells.append(row.cell(outcome.figures, base.figures if base is not None else None))
                except (KeyError, TypeError, StopIteration) as e:  # a figure the run did not give
                    cells.append(f"n/a ({type(e).__name__} {e})")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {row.floor} |")
    return "\n".join(lines), [f"[{i}] {n}" for i, n in enumerate(notes, 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, action="append", required=True, help="a checkout with a .venv (repeat for each)"
    )
    parser.add_argument("--scale", choices=["full", "smoke"], default="full")
    parser.add_argument(
        "--only", default=",".join(b.name for b in BENCHES), help="benchmarks to run, comma-separated (default: all)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help=f"the checkout to compare the webhook with (default: {BASELINE_COMMIT}'s)",
    )
    parser.add_argument(
        "--logs", type=Path, default=None, help="where each run's output goes (default: a new temp dir)"
    )
    parser.add_argument(
        "--timeout-factor", type=float, default=1.0, help="multiply every run's time limit (a slow machine)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the webhook and the history this many times, the checkouts in turn; medians",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds: at least 1")

    roots = [r.resolve() for r in args.root]
    for root in roots:
        if not (root / ".venv" / "bin" / "signaldesk").exists():
            raise SystemExit(f"{root}/.venv/bin/signaldesk does not exist: run `make setup` in {root}")
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - {b.name for b in BENCHES}
    if unknown:
        raise SystemExit(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    benches = [b for b in BENCHES if b.name in wanted]
    baseline = args.baseline.resolve() if args.baseline else None
    if baseline is None:
        baseline = next((r for r in roots if commit_of(r).startswith(BASELINE_COMMIT)), None)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="sd-compare-"))
    logs.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    print(f"compare: {len(roots)} checkouts × {len(benches)} benchmarks, scale {args.scale}, logs in {logs}")
    print(f"  started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores; options used:")
    for bench in benches:
        print(f"    {bench.name:<13} bench/{bench.script} {shlex.join(bench.options[args.scale])}")
    results: dict[tuple[str, Path], Outcome] = {}
    rounds: dict[str, dict[Path, list[Outcome]]] = {name: {root: [] for root in roots} for name in ROUNDED}
    plan = [
        (bench, round_no)
        for bench in benches
        for round_no in (range(1, args.rounds + 1) if bench.name in ROUNDED and args.rounds > 1 else [None])
    ]
    total, done = len(plan) * len(roots), 0
    for bench, round_no in plan:
        for root in roots:
            load = os.getloadavg()[0]
            done += 1
            which = f" round {round_no}" if round_no is not None else ""
            print(
                f"  [{done}/{total}] {bench.name}{which} against {root.name} (load {load:.1f}) ...", end="", flush=True
            )
            outcome = run(bench, root, args.scale, logs, args.timeout_factor, round_no)
            if round_no is None:
                results[(bench.name, root)] = outcome
            else:
                rounds[bench.name][root].append(outcome)
            print(
                f" {outcome.seconds:.0f} s, {'ok' if outcome.reason is None else 'n/a: ' + outcome.reason}", flush=True
            )
    round_lines: list[str] = []
    what = {
        "webhook": "closed loop against the ceiling measured right after it, alerts/s",
        "history": "CPU per executed signal, empty → with the history",
    }
    for name, runs in rounds.items():
        if not any(runs.values()):
            continue
        merged, each = merge_rounds(name, runs, baseline)
        for root, outcome in merged.items():
            results[(name, root)] = outcome
        round_lines += [f"The {name} in {args.rounds} rounds ({what[name]}; the table gives the medians):", *each, ""]

    markdown, notes = table(roots, results, baseline, [b.name for b in benches])
    took = time.monotonic() - started
    base_note = f"{baseline.name}" if baseline is not None else f"none (no checkout at {BASELINE_COMMIT})"
    text = "\n".join(
        [
            "",
            f"Scale {args.scale}; {len(roots)} checkouts; took {took / 60:.1f} min; baseline for the webhook: {base_note}.",
            "",
            markdown,
            "",
            *notes,
            *([""] if notes else []),
            *round_lines,
            f"Each run's output: {logs}",
        ]
    )
    print(text)
    if args.out is not None:
        args.out.write_text(text.lstrip() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
