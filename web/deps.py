"""What the web front-end is given at start-up: the use cases it calls and its limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trading.services.accounts import AccountStatus
from trading.services.candles import CandleStore
from trading.services.clock import SystemClock
from trading.services.feed import EventFeed
from trading.services.intake import Intake
from trading.services.ledger import Ledger
from trading.services.people import People
from trading.services.sign_in_limits import SignInUnitOfWorkFactory
from trading.services.use_cases import UseCases
from web.limits import WebhookLimits

HealthCheck = Callable[[], Awaitable[tuple[bool, str]]]


class Draining:
    """Set by the process on SIGTERM: from then on new webhooks are answered 503."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set


@dataclass
class WebDeps:
    intake: Intake
    use_cases: UseCases  # what the routes call (built by trading/services/bootstrap.py)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    health_timeout_seconds: float = 3.0
    # This process among the desk's: {"process", "leader", "members", "led_by"} (GET /health).
    cluster_view: Callable[[], Awaitable[dict[str, Any]]] | None = None
    # The desk's live processes (host:pid each): the Overview lists them, the leader marked.
    cluster_processes: Callable[[], Awaitable[list[str]]] | None = None
    # The break-glass admin token (SIGNALDESK_API_TOKEN), audited as api:break-glass; None: none.
    api_token: str | None = None
    # People (sessions, personal API tokens); None: only the break-glass token gets in.
    people: People | None = None
    secret_key: str | None = None  # signs the session cookies; None: nobody can sign in
    session_seconds: float = 12 * 3600
    login_max_failures: int = 5  # per client address and per name, within the window
    login_failure_window_seconds: float = 300.0
    # Where sign-in attempts are counted for every process (the database); None: in this
    # process's memory only.
    sign_ins: SignInUnitOfWorkFactory | None = None
    webhook: WebhookLimits = field(default_factory=WebhookLimits)  # WEBHOOK_* (web/limits.py)
    draining: Draining = field(default_factory=Draining)
    # The live feed (persisted, fanned out to Server-Sent Events); None: an empty feed.
    feed: EventFeed | None = None
    # Also how often an open stream checks that its session or token still lets it in.
    sse_keepalive_seconds: float = 15.0
    max_streams_per_person: int = 10  # open event streams of one person (web and API together)
    max_streams: int = 500  # open event streams of everybody
    clock: Callable[[], datetime] = SystemClock().now  # bot/app.py hands in the process's clock
    # Every account reached at once (GET /api/accounts, the Accounts page); None: none listed.
    accounts: Callable[[], Awaitable[list[AccountStatus]]] | None = None
    # The decision ledger (GET /api/edge, the Decisions page); None: nothing to show.
    ledger: Ledger | None = None
    # The stored one-minute candles an approval card's chart is drawn from; None: no chart.
    candles: CandleStore | None = None
    # How often the Approvals page fetches its cards' quote and drift (APPROVAL_CARD_REFRESH_SECONDS); 0: never.
    approval_card_refresh_seconds: float = 5.0
