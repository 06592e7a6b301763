"""`signaldesk ...` run in the test's own process: `bot.cli.main.main(argv)` with the
environment, standard input, working directory and log level a subprocess would have had,
its standard output, standard error and log lines captured.

A `signaldesk` subprocess costs about a second of CPU in imports before it does anything;
a test whose point is not the process boundary runs the command here instead (each CLI keeps
a test that spawns the real command: exit status, pipes, the installed script). The command
runs in a thread of its own, as it starts its own event loop (`asyncio.run`); the process's
environment, standard streams, working directory and root logger are its own for the call
and are put back afterwards, so one call runs at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.cli.main import QUIET_LIBRARIES, main
from bot.log_format import SafeFormatter

_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def run_cli(*argv: str, env: Mapping[str, str], stdin: str = "", cwd: Path | None = None) -> CliRun:
    """`signaldesk *argv` with `env` as its whole environment (as a subprocess's `env=`)."""
    outcome: list[CliRun | BaseException] = []

    def command() -> None:
        try:
            outcome.append(_call(list(argv), env, stdin, cwd))
        except BaseException as e:  # re-raised in the caller's thread
            outcome.append(e)

    with _ONE_AT_A_TIME:
        thread = threading.Thread(target=command, name="signaldesk-cli")
        thread.start()
        thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


async def signaldesk_in_process(*argv: str, env: Mapping[str, str], stdin: str = "", cwd: Path | None = None) -> CliRun:
    """`run_cli` from a coroutine: the test's event loop goes on while the command runs."""
    return await asyncio.to_thread(run_cli, *argv, env=env, stdin=stdin, cwd=cwd)


def _call(argv: list[str], env: Mapping[str, str], stdin: str, cwd: Path | None) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    with (
        _environment(env),
        _working_directory(cwd),
        _logging_to(err, env.get("LOG_LEVEL", "INFO")),
        _standard_streams(io.StringIO(stdin), out, err),
    ):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's refusals and --help end this way
            code = e.code if isinstance(e.code, int) else 1 if e.code else 0
    return CliRun(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _working_directory(cwd: Path | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    saved = Path.cwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _logging_to(err: io.StringIO, level: str) -> Iterator[None]:
    """The command's log lines in its standard error, as `setup_logging` puts them in a
    process; `main`'s own `logging.basicConfig` does nothing while the root logger has
    handlers (pytest's), and any handler the command adds is taken away afterwards."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    handler = logging.StreamHandler(err)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    try:
        yield
    finally:
        for added in [h for h in root.handlers if h not in saved_handlers]:
            root.removeHandler(added)
        root.setLevel(saved_level)
        for name, quiet_level in quiet.items():
            logging.getLogger(name).setLevel(quiet_level)


@contextlib.contextmanager
def _standard_streams(stdin: io.StringIO, out: io.StringIO, err: io.StringIO) -> Iterator[None]:
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, out, err
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
