"""Moves stored signals through their life, fed from the database (the durable queue).

Each bot with work has one lane: a task that takes the bot's oldest unfinished signal,
moves it as far as it can go, and takes the next only once that one is final. A signal
waiting for the broker keeps its bot's place, so a bot's signals run one at a time in
arrival order through retries and restarts, while different bots run side by side.

Lanes are opened by `wake_bot` (the services call it after their commit) and by a sweep
every few seconds over every unfinished signal, so nothing committed is ever stranded,
whatever happened to the request or the process that stored it. Periodic tasks expire
approvals, watch stops and targets, and reconcile with the brokers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass

from trading.domain.signals import SignalState
from trading.services.alerts_first import AlertsFirst
from trading.services.backoff import backoff_delay
from trading.services.execution import RunResult
from trading.services.ports import Cluster, UnitOfWorkFactory
from trading.services.use_cases import UseCases

log = logging.getLogger("signaldesk.runner")

# A signal in one of these states has work left that no person has to decide.
UNFINISHED = (SignalState.RECEIVED, SignalState.APPROVED, SignalState.QUEUED, SignalState.EXECUTING)

# The periodic duties every process runs, leader or not (the rest run in the leader only):
# the sweep finds the lanes of a process that died; the stats are each process's own.
EVERY_PROCESS = frozenset({"sweep", "runtime-stats"})


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """How often the runner's periodic duties run and how far it goes at once.

    `housekeeping`: more periodic duties, each (name, interval in seconds, job), run first at
    start and then every interval (say, trimming the webhook log). `max_active_bots`: how
    many bots' signals may be moved at the same moment (each bot has its lane whatever the
    bound; a lane past it waits its turn). `alerts_first`: a lane asks it for its turn before
    it takes each signal, so the intake's answers go first (see AlertsFirst). `cluster`: with
    several processes on one database, a lane runs only in the process holding the bot's
    lane, and the periodic duties (but the sweep) only in the leader."""

    sweep_interval: float = 3.0
    expiry_interval: float = 5.0
    monitor_interval: float = 5.0
    reconcile_interval: float = 300.0
    max_retry_delay: float = 30.0
    max_active_bots: int = 256
    housekeeping: Sequence[tuple[str, float, Callable[[], Awaitable[object]]]] = ()
    alerts_first: AlertsFirst | None = None
    cluster: Cluster | None = None


class Runner:
    def __init__(
        self, use_cases: UseCases, uow_factory: UnitOfWorkFactory, options: RunnerOptions = RunnerOptions()
    ) -> None:
        """Built by the bootstrap (trading/services/bootstrap.py), which hands the use cases
        this runner's `wake_bot` and `reconcile_soon` as their callbacks."""
        self._steps = use_cases.steps
        self._decisions = use_cases.decisions
        self._monitors = use_cases.monitors
        self._reconciliation = use_cases.reconciliation
        self._uow = uow_factory
        self._intervals = {
            "sweep": options.sweep_interval,
            "expiry": options.expiry_interval,
            "monitor": options.monitor_interval,
            "reconcile": options.reconcile_interval,
        }
        self._max_retry_delay = options.max_retry_delay
        self._active = asyncio.Semaphore(options.max_active_bots)
        self._housekeeping = list(options.housekeeping)
        self._alerts_first = options.alerts_first
        self._cluster = options.cluster
        for name, interval, _job in self._housekeeping:
            self._intervals[name] = interval
        self._lanes: dict[int, asyncio.Task[None]] = {}
        # Bots woken since their lane last looked for work: the lane looks again before it ends.
        self._dirty: set[int] = set()
        self._waiting: dict[int, int] = {}  # bot id -> signal id waiting to be tried again
        self._tasks: list[asyncio.Task[None]] = []
        # Until it starts, a wake-up opens no lane: the start's sweep finds what was stored.
        self._started = False
        self._stopping = False

    def wake_bot(self, bot_id: int) -> None:
        """Never blocks: called right after a commit that gave the bot something to do."""
        if self._stopping or not self._started:
            return
        self._dirty.add(bot_id)
        if bot_id not in self._lanes:
            self._lanes[bot_id] = asyncio.get_running_loop().create_task(self._lane(bot_id), name=f"lane-{bot_id}")

    def abandon_lanes(self) -> None:
        """Stop every lane now, wherever it is (this process no longer holds its bots' lanes:
        another may run them already). What they held stays stored, as after a crash, and is
        resumed by whichever process takes each lane next."""
        for task in list(self._lanes.values()):
            task.cancel()

    def reconcile_soon(self, bot_id: int) -> None:
        """Reconcile the bot's symbol now, once the signal in hand has let go of the bot."""
        self._spawn(lambda: self._reconcile_one(bot_id), f"reconcile-{bot_id}")

    def _spawn(self, job: Callable[[], Coroutine[object, object, None]], name: str) -> None:
        """Run `job` beside the lanes, unless the runner is not running (stopped with them)."""
        if self._stopping or not self._started:
            return
        task = asyncio.get_running_loop().create_task(job(), name=name)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _reconcile_one(self, bot_id: int) -> None:
        try:
            problems = await self._reconciliation.reconcile(only_bot=bot_id)
        except Exception:
            log.exception("reconciliation of bot %s failed; the periodic one will try again", bot_id)
        else:
            log.info("reconciled bot %s's symbol at once: %s", bot_id, "; ".join(problems) or "no mismatch")

    async def start(self) -> int:
        """Open a lane for every bot with unfinished signals; start the periodic tasks.
        The number of unfinished signals found."""
        self._started = True
        async with self._uow(read_only=True) as uow:
            pending = await uow.signals.ids_in_states(UNFINISHED)
        if pending:
            log.info("resuming %d unfinished signal(s): %s", len(pending), pending[:20])
        await self.sweep()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._every("sweep", self.sweep), name="sweep"))
        self._tasks.append(loop.create_task(self._every("expiry", self._decisions.run_due), name="expiry"))
        self._tasks.append(loop.create_task(self._every("monitor", self._monitors.check_exits), name="monitor"))
        self._tasks.append(loop.create_task(self._every("reconcile", self._reconciliation.reconcile, at_start=True)))
        for name, _interval, job in self._housekeeping:
            self._tasks.append(loop.create_task(self._every(name, job, at_start=True), name=name))
        return len(pending)

    async def sweep(self) -> None:
        """Wake every bot that has an unfinished signal (a lane already running just looks again)."""
        async with self._uow(read_only=True) as uow:
            bot_ids = await uow.signals.bots_with_signals_in(UNFINISHED)
        for bot_id in bot_ids:
            self.wake_bot(bot_id)

    async def _lane(self, bot_id: int) -> None:
        cluster = self._cluster
        taken = False
        try:
            try:
                # Refused: another process runs it (and looks for work before letting go);
                # the next wake or sweep asks again.
                taken = cluster is None or await cluster.take_lane(bot_id)
            except Exception:
                log.exception("lane of bot %s: could not tell whether another process runs it", bot_id)
            if taken:
                await self._run_lane(bot_id)
        finally:
            self._forget_lane(bot_id)
            if taken and cluster is not None and cluster.shared and not self._stopping:
                await self._let_go(cluster, bot_id)

    async def _let_go(self, cluster: Cluster, bot_id: int) -> None:
        """Release the bot's lane, then look once more: a signal another process stored while
        this one held the lane found it taken there, and is this process's to run."""
        try:
            await cluster.release_lane(bot_id)
        except Exception:
            log.exception("lane of bot %s: letting go failed; the sweep looks again", bot_id)
            return
        await self._wake_if_unfinished(bot_id)

    def look_again(self, bot_id: int) -> None:
        """Wake the bot if it has an unfinished signal, without waiting (called when another
        holder of its lane in this process, say reconciliation, let go of it)."""
        self._spawn(lambda: self._wake_if_unfinished(bot_id), f"look-{bot_id}")

    async def _wake_if_unfinished(self, bot_id: int) -> None:
        try:
            async with self._uow(read_only=True) as uow:
                left = await uow.signals.next_to_run(bot_id, UNFINISHED)
        except Exception:
            log.exception("bot %s: could not look for its unfinished signals; the sweep looks again", bot_id)
            return
        if left is not None:
            self.wake_bot(bot_id)

    def _forget_lane(self, bot_id: int) -> None:
        if self._lanes.get(bot_id) is asyncio.current_task():
            del self._lanes[bot_id]

    async def _run_lane(self, bot_id: int) -> None:
        current: int | None = None  # the signal in hand
        finished: int | None = None  # the last one reported finished
        failures = 0
        try:
            while not self._stopping:
                self._dirty.discard(bot_id)
                tried = await self._advance(bot_id, finished)
                if tried is None:
                    if bot_id in self._dirty:  # woken while looking: look again
                        continue
                    return
                signal_id, outcome = tried
                if signal_id != current:
                    current, failures = signal_id, 0
                if outcome is None:
                    # Reported finished, yet still the bot's oldest unfinished signal: it did
                    # not move (a bug). Wait as for a retry rather than spin on it.
                    log.error("signal %s: reported finished but is still unfinished; will retry", signal_id)
                    result = RunResult(False)
                else:
                    result = outcome
                if result.finished:
                    finished = signal_id
                    continue
                finished = None
                failures += 1
                wait = backoff_delay(failures, first=result.retry_after or 1.0, cap=self._max_retry_delay)
                self._waiting[bot_id] = signal_id
                try:
                    await asyncio.sleep(wait)
                finally:
                    self._waiting.pop(bot_id, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database did not answer: the sweep opens the lane again.
            log.exception("lane of bot %s stopped; the next sweep resumes it", bot_id)

    async def _advance(self, bot_id: int, finished: int | None) -> tuple[int, RunResult | None] | None:
        """One try at the bot's oldest unfinished signal: (its id, the result), or None when
        it has none. A failing try holds the signal's place and is tried again."""
        if self._alerts_first is not None:
            await self._alerts_first.turn()
        async with self._active:
            return await self._steps.run_next(bot_id, UNFINISHED, finished=finished)

    async def _every(self, name: str, job: Callable[[], Awaitable[object]], at_start: bool = False) -> None:
        interval = self._intervals[name]
        if not at_start:
            await asyncio.sleep(interval)
        while True:
            if name not in EVERY_PROCESS and self._cluster is not None and not self._cluster.is_leader:
                await asyncio.sleep(interval)  # a follower: the leader runs it
                continue
            try:
                await job()
            except Exception:
                log.exception("%s check failed; next in %.0fs", name, interval)
            await asyncio.sleep(interval)

    async def idle(self, seconds: float = 30.0) -> None:
        """Wait until no lane has a signal it can move now (tests and benchmarks): every
        lane has ended or waits to retry."""
        async with asyncio.timeout(seconds):
            while busy := [task for bot_id, task in self._lanes.items() if bot_id not in self._waiting]:
                await asyncio.wait(busy, timeout=0.05)

    @property
    def retrying(self) -> int:
        """Signals waiting to be tried again."""
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        """Whether any lane is still running (moving a signal or waiting to retry one)."""
        return bool(self._lanes)

    async def stop(self, grace: float = 10.0) -> None:
        """Let each lane finish the step in hand (bounded by `grace`), then stop. What is
        left unfinished is stored and resumed at the next start."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        lanes = list(self._lanes.values())
        for bot_id, task in list(self._lanes.items()):
            if bot_id in self._waiting:  # asleep between tries: nothing in hand
                task.cancel()
        if lanes:
            _done, late = await asyncio.wait(lanes, timeout=grace)
            for task in late:
                task.cancel()
        for task in [*self._tasks, *lanes]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
