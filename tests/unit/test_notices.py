"""The start and stop notices (issue 17 item 10): what they say, and never a password."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import database_kind
from tests.support.fake_uow import FakeDatabase
from tests.support.service_rig import make_rig
from trading.domain.events import DeskStarted, DeskStopping
from trading.domain.signals import SignalAction, SignalState

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_the_database_is_named_by_kind_and_place_never_by_its_credentials() -> None:
    shown = database_kind("postgresql+asyncpg://desk_user:s3cr3t-pw@db.internal:5433/desk")
    assert shown == "postgresql (desk on db.internal:5433)"
    assert "s3cr3t" not in shown and "desk_user" not in shown
    assert database_kind("sqlite+aiosqlite:///./signaldesk.db") == "sqlite (./signaldesk.db)"
    assert database_kind("sqlite+aiosqlite://") == "sqlite (in memory)"
    assert database_kind("not a url") == "unknown"


def test_the_start_notice_names_version_bots_brokers_and_database() -> None:
    started = DeskStarted(
        at=NOW,
        version="0.1.0",
        bots=("A (auto, Paper)", "B (approve, Herenya, paused)"),
        brokers=("Herenya", "Paper"),
        database="sqlite (./signaldesk.db)",
        resumed=2,
    )
    assert started.text() == (
        "signaldesk 0.1.0 started: 2 bots: A (auto, Paper), B (approve, Herenya, paused); broker Herenya, Paper; "
        "database sqlite (./signaldesk.db); 2 unfinished signal(s) resumed"
    )
    empty = DeskStarted(at=NOW, version="0.1.0", bots=(), brokers=(), database="sqlite (x.db)")
    assert empty.text() == "signaldesk 0.1.0 started: 0 bots; broker none; database sqlite (x.db)"


def test_the_stop_notice_says_what_was_left_in_flight() -> None:
    assert DeskStopping(at=NOW, unfinished=0).text() == "signaldesk stopping: nothing left in flight"
    assert DeskStopping(at=NOW, unfinished=3, awaiting_approval=1).text() == (
        "signaldesk stopping: 3 signal(s) left in flight, resumed at the next start; 1 card(s) still await approval"
    )


async def test_the_desk_counts_signals_in_flight_and_cards_waiting() -> None:
    rig = make_rig(FakeDatabase())
    auto = await rig.bot()
    approve = await rig.bot(bot_name="Approver", webhook_key="approver_key_123", mode="approve")
    assert await rig.use_cases.queries.unfinished() == (0, 0)
    waiting = await rig.signal(approve, SignalAction.ENTER_LONG)
    assert await rig.run(waiting) is SignalState.PENDING_APPROVAL
    await rig.signal(auto, SignalAction.ENTER_LONG)  # received, not run yet
    done = await rig.signal(auto, SignalAction.CLOSE)
    assert await rig.run(done) is SignalState.IGNORED  # nothing to close while flat: finished
    assert await rig.use_cases.queries.unfinished() == (1, 1)
