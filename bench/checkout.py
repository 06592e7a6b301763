"""Which checkout's `signaldesk` a benchmark runs, so that one script gives before and after
figures on the same machine: `--root /work/other-checkout` runs that checkout's
`.venv/bin/signaldesk serve` (and `bots import`), while the load generator, the Herenya
simulator and tests/e2e/procs.py stay this checkout's, the same for both runs.
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from tests.e2e import procs as procs_module
from tests.e2e.procs import Processes, Serve

HERE = Path(__file__).resolve().parents[1]


def add_root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=HERE,
        help=f"the checkout whose .venv/bin/signaldesk serves (default: this one, {HERE})",
    )


def signaldesk_script(root: Path) -> Path:
    script = root.resolve() / ".venv" / "bin" / "signaldesk"
    if not script.exists():
        raise SystemExit(f"{script} does not exist: run `make setup` in {root}")
    return script


def describe(root: Path) -> str:
    """The checkout and its commit, for the figures' heading."""
    done = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    )
    commit = done.stdout.strip()[:90] if done.returncode == 0 else "unknown commit"
    return f"{root.resolve()} @ {commit}"


class CheckoutProcesses(Processes):
    """`Processes` whose `signaldesk serve` and `bots import` come from `root`."""

    bots_import_in_process = False  # `root`'s own command, in a process of its own

    def __init__(self, workdir: Path, root: Path) -> None:
        super().__init__(workdir)
        self.script = signaldesk_script(root)

    @contextmanager
    def _theirs(self) -> Iterator[None]:
        with mock.patch.object(procs_module, "signaldesk_command", lambda: [str(self.script)]):
            yield

    def import_bots(self, env: Mapping[str, str], bots: list[Mapping[str, Any]], timeout: float = 60.0) -> str:
        with self._theirs():
            return super().import_bots(env, bots, timeout)

    def serve(self, env: Mapping[str, str], timeout: float = 30.0) -> Serve:
        with self._theirs():
            return super().serve(env, timeout)


@contextmanager
def checkout_processes(workdir: Path, root: Path) -> Iterator[CheckoutProcesses]:
    procs = CheckoutProcesses(workdir, root)
    try:
        yield procs
    finally:
        procs.close()
