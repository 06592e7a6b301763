"""`make run` installs the desk alone; `make test` (and `make setup`) add the test tools.

Read from `make -n` (what make would run) against a virtualenv path that does not exist,
as on a fresh clone: nothing is installed or run."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, venv: Path) -> str:
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_make_run_installs_the_desk_without_the_test_tools(tmp_path: Path) -> None:
    plan = planned("run", tmp_path / "venv")
    assert "pip install --quiet -e ." in plan
    assert "[test]" not in plan
    assert "signaldesk serve" in plan


def test_make_test_and_setup_install_the_test_tools(tmp_path: Path) -> None:
    for target in ("test", "setup"):
        assert "pip install --quiet -e '.[test]'" in planned(target, tmp_path / "venv"), target
