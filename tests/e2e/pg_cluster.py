"""A throwaway PostgreSQL cluster of a test's own, started the way tests/with_postgres.sh
starts the shared one (initdb as the 'postgres' user when run as root, a free loopback
port), for tests that stop and start the server: the shared cluster is every other
test's. Every wait is bounded by pg_ctl's own -t; the cluster is stopped and its files
removed when the context ends, whatever happened."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.procs import free_port


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and Path(out, "initdb").exists():
            return Path(out)
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").exists() and Path(d, "pg_ctl").exists():
            return Path(d)
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, pg_ctl) were not found; run the tests under "
        "tests/with_postgres.sh, which installs them"
    )


class Cluster:
    def __init__(self, bindir: Path, folder: Path, port: int, run_as: list[str]) -> None:
        self.bindir, self.folder, self.port, self.run_as = bindir, folder, port, run_as
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        argv = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
        if done.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({done.returncode}): {done.stderr}\n{log}")

    def start(self) -> None:
        self._pg_ctl(
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=on -c max_connections=100",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="signaldesk-pg-own."))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        # initdb refuses to run as root (the package creates the 'postgres' user).
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    cluster = Cluster(bindir, folder, free_port(), run_as)
    try:
        initdb = [str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "--auth=trust"]
        done = subprocess.run(
            [*run_as, *initdb, "-E", "UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
