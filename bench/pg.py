"""A throwaway PostgreSQL cluster for a benchmark, as tests/with_postgres.sh starts one for
the tests: initdb and pg_ctl of the installed server binaries, a free loopback port, the
`postgres` user when run as root (initdb refuses root), trust authentication, fsync on (as
in production), and everything stopped and removed afterwards, whatever happened.

    with throwaway_postgres() as url:   # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
        ...
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.procs import free_port

THROWAWAY = "throwaway"  # --postgres without a URL


def server_bindir() -> Path:
    """The folder of initdb and pg_ctl: pg_config's, else the newest /usr/lib/postgresql/*/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        found = Path(done.stdout.strip())
        if done.returncode == 0 and (found / "initdb").exists():
            return found

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name))

    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    if not candidates:
        raise SystemExit(
            "PostgreSQL server binaries not found (initdb): `apt-get install postgresql`, or pass --postgres URL"
        )
    return max(candidates, key=version)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    bindir = server_bindir()
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="sd-bench-pg-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        # The package creates the 'postgres' user; tests/with_postgres.sh does the same.
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    started = time.monotonic()
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=on -c max_connections=200"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60"]
    try:
        subprocess.run(
            [*run_as, *initdb],
            capture_output=True,
            check=True,
            timeout=120,
        )
        subprocess.run(
            [*run_as, *pg_ctl, "-o", options, "start"],
            capture_output=True,
            check=True,
            timeout=120,
        )
    except subprocess.CalledProcessError as e:
        log = folder / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else (e.stderr or b"").decode()[-2000:]
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(f"could not start a throwaway PostgreSQL ({e.cmd[len(run_as)]}):\n{detail}") from None
    print(f"throwaway PostgreSQL on 127.0.0.1:{port} (started in {time.monotonic() - started:.1f} s)", flush=True)
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def database(postgres: str | None, sqlite_folder: Path) -> Iterator[str]:
    """The URL a benchmark's serve runs on: `postgres` None is a SQLite file in `sqlite_folder`,
    "throwaway" a cluster started (and stopped) here, anything else that URL as given (an
    empty database: the benchmarks count what they find in it)."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{sqlite_folder / 'signaldesk.db'}"
    elif postgres == THROWAWAY:
        with throwaway_postgres() as url:
            yield url
    else:
        yield postgres
