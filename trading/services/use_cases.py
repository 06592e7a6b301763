"""The use cases of the desk, built once by the bootstrap (trading/services/bootstrap.py) and
handed as one record to whoever calls them: the runner, and the desk the faces call."""

from __future__ import annotations

from dataclasses import dataclass

from trading.services.commands import Commands
from trading.services.decisions import Decisions
from trading.services.execution import Executor
from trading.services.monitors import Monitors
from trading.services.orders import Orders
from trading.services.queries import Queries
from trading.services.reconciliation import Reconciliation
from trading.services.repair import Repairs
from trading.services.steps import SignalSteps


@dataclass(frozen=True, slots=True)
class UseCases:
    executor: Executor
    steps: SignalSteps  # one try at a stored signal (the runner's lanes)
    decisions: Decisions  # approvals, edits, reminders and expiry
    commands: Commands
    queries: Queries
    monitors: Monitors  # stops and targets
    reconciliation: Reconciliation
    repairs: Repairs
    orders: Orders  # a person's own orders
