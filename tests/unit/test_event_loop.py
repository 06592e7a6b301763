"""`signaldesk serve` runs on the event loop its settings name, and on asyncio's own when
uvloop is missing (bot/event_loop.py)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.event_loop import run
from bot.settings import Settings


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default_and_asyncio_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNALDESK_EVENT_LOOP", raising=False)
    assert Settings(_env_file=None).signaldesk_event_loop == "uvloop"  # type: ignore[call-arg]
    assert run(_loop_module(), "uvloop").startswith("uvloop")
    assert run(_loop_module(), "asyncio").startswith("asyncio")
    monkeypatch.setenv("SIGNALDESK_EVENT_LOOP", "asyncio")
    assert Settings(_env_file=None).signaldesk_event_loop == "asyncio"  # type: ignore[call-arg]


def test_a_misspelt_choice_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALDESK_EVENT_LOOP", "uv-loop")
    with pytest.raises(ValueError, match="signaldesk_event_loop"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_without_uvloop_asyncio_runs_it_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with caplog.at_level("WARNING", logger="signaldesk.loop"):
        assert run(_loop_module(), "uvloop").startswith("asyncio")
    assert "uvloop is not installed" in caplog.text
