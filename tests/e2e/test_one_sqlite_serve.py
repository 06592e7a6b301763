"""SQLite serves one process: a second `signaldesk serve` on the same file stops at once,
with the reason, before touching the database; the lock goes with the first process
however it ends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.serve_lock import ONE_PROCESS, one_serve_per_sqlite_file
from tests.e2e.procs import Processes, processes, signaldesk_command

pytestmark = pytest.mark.slow


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def _serve_again(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*signaldesk_command(), "serve"],
        env={**env, "SIGNALDESK_HOST": "127.0.0.1", "SIGNALDESK_PORT": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_serve_on_one_sqlite_file_refuses_and_the_lock_goes_with_the_first(
    procs: Processes, tmp_path: Path
) -> None:
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}", None)
    first = procs.serve(env)

    second = _serve_again(env, tmp_path)

    assert second.returncode == 2
    assert "SQLite serves one process; use PostgreSQL to run several" in second.stderr
    assert str(tmp_path / "desk.db") in second.stderr
    assert first.http.get("/health").status_code == 200  # the first goes on

    first.process.kill()  # kill -9: the lock goes with the process
    third = procs.serve(env)
    assert third.http.get("/health").status_code == 200


def test_the_refusal_comes_before_the_database_is_opened(procs: Processes, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    with one_serve_per_sqlite_file(url):  # held as a running serve holds it
        refused = _serve_again(procs.serve_env(url, None), tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert ONE_PROCESS in refused.stderr
    assert not (tmp_path / "desk.db").exists()  # neither created nor migrated
