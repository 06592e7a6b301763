"""Click-to-order-sent latency of an approval (issue 7 item 6; target: p99 <= 50 ms).

    .venv/bin/python bench/approval.py [--clicks 200]

Everything on loopback, on one event loop as in `signaldesk serve`: the fake Discord
(tests/e2e/fake_discord.py), the process's own parts built by bot.app (real Desk, SQLite,
runner, event bus, the discord.py client), and the Herenya simulator. Each round posts an
approve-mode alert through the webhook route, waits for its card, clicks Approve as an
approver, and measures from the moment the fake Discord dispatches the click on the
gateway to the moment the simulator receives the order (time.monotonic on both ends).
Alerts alternate entry and close so that each approval makes exactly one order.

The figure includes what a real click costs inside signaldesk: discord.py parsing the
interaction, the deferred first response (a REST round trip), the Desk's approval
transaction, the runner picking the signal up, the quote look-up and the order request.
It excludes Discord's own network, which no benchmark here can measure.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from brokers.herenya.sim_config import SimConfig  # noqa: E402
from brokers.herenya.sim_state import SimOrder, SimState  # noqa: E402
from tests.e2e.discord_harness import DeskWorld, desk_world, discord_world  # noqa: E402
from tests.e2e.fake_discord import embed_text  # noqa: E402


class TimedSimState(SimState):
    """The simulator's state, noting when each order arrived."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.arrived: dict[str, float] = {}

    def place_order(self, account_id: str, payload: Any, *, hidden_seconds: float = 0.0) -> SimOrder:
        if isinstance(payload, dict) and "client_order_id" in payload:
            self.arrived.setdefault(str(payload["client_order_id"]), time.monotonic())
        return super().place_order(account_id, payload, hidden_seconds=hidden_seconds)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class Stamps:
    """When Desk.approve was entered and left, per signal: splits the figure into the
    Discord front-end's share, the approval transaction, and execution."""

    def __init__(self, d: DeskWorld) -> None:
        self.entered: dict[int, float] = {}
        self.left: dict[int, float] = {}
        decisions = d.app.use_cases.decisions
        approve = decisions.approve

        async def timed(signal_id: int, *args: Any, **kwargs: Any) -> Any:
            self.entered.setdefault(signal_id, time.monotonic())
            try:
                return await approve(signal_id, *args, **kwargs)
            finally:
                self.left.setdefault(signal_id, time.monotonic())

        decisions.approve = timed  # type: ignore[method-assign]


async def one_round(d: DeskWorld, state: TimedSimState, stamps: Stamps, action: str) -> tuple[float, ...]:
    w = d.world
    sid = await d.alert(action)

    def card() -> int | None:
        for m in w.discord.channel_messages(w.approvals):
            if f"#{sid} " in embed_text(m) and w.discord.custom_ids(m):
                return int(m["id"])
        return None

    mid = await w.discord.wait_for(card, within=10)
    click = await w.discord.click(mid, f"sd:approve:{sid}", w.alice)
    await w.discord.wait_for(lambda: d.orders(sid) and d.orders(sid)[0]["status"] == "FILLED", within=10)
    [order] = d.orders(sid)
    # Let the card and the log lines settle so rounds do not overlap.
    await w.discord.wait_for(lambda: "Executed" in embed_text(w.discord.messages[mid]), within=10)
    arrived = state.arrived[order["client_order_id"]]
    return (
        arrived - click.dispatched_at,
        stamps.entered[sid] - click.dispatched_at,
        stamps.left[sid] - stamps.entered[sid],
        arrived - stamps.left[sid],
    )


async def run(clicks: int, warmup: int) -> None:
    state = TimedSimState(SimConfig(seed=7, quote_step_seconds=0))
    with tempfile.TemporaryDirectory() as tmp:
        async with discord_world() as world, desk_world(world, Path(tmp) / "bench.db", sim_state=state) as d:
            actions = ["RSI_LONG_ENTRY", "RSI_CLOSE_LONG"]
            stamps = Stamps(d)
            for i in range(warmup):
                await one_round(d, state, stamps, actions[i % 2])
            figures = []
            started = time.perf_counter()
            for i in range(clicks):
                figures.append(await one_round(d, state, stamps, actions[(warmup + i) % 2]))
            elapsed = time.perf_counter() - started
            first = [r.latency for r in world.discord.interactions.values() if r.latency is not None]
    print(f"approvals: {clicks} (after {warmup} warm-up), {clicks / elapsed:.1f} rounds/s incl. alert and card")
    labels = [
        "click -> order at the simulator (target p99 <= 50 ms)",
        "  click -> Desk.approve called (discord.py dispatch, our callback)",
        "  Desk.approve (the approval transaction)",
        "  approve returned -> order at the simulator (runner, execution)",
    ]
    for n, label in enumerate(labels):
        ms = [f[n] * 1000 for f in figures]
        print(
            f"{label}: p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
            f"max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
        )
    first_ms = [f * 1000 for f in first]
    print(
        f"click -> first response (Discord's 3 s rule): p50 {pct(first_ms, 50):.1f} ms, p99 {pct(first_ms, 99):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args.clicks, args.warmup))


if __name__ == "__main__":
    main()
