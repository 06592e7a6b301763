"""The real processes for end-to-end tests and benchmarks: the Herenya simulator and
`signaldesk serve`, each a subprocess on a free loopback port, with its own environment.

Every wait is bounded and polls briefly; every process started here is killed (its whole
process group) when the `Processes` context that started it ends, whatever happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.cli import run_cli
from tests.support.passphrases import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "e2e-api-token-0123456789"
SIM_ACCOUNT = "A1"
SIM_KEY = "test-key"
SIM_SECRET = "test-secret"

T = TypeVar("T")


def signaldesk_command() -> list[str]:
    """The installed `signaldesk` script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "signaldesk"
    if script.exists():
        return [str(script)]
    found = shutil.which("signaldesk")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
        except (httpx.TransportError, OSError) as e:
            value, last_error = None, e
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: account_sizes = { prop = 2 }
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_toml_tables(
    path: Path, name: str, rows: list[Mapping[str, Any]], top: Mapping[str, Any] | None = None
) -> Path:
    lines = [f"{k} = {toml_value(v)}" for k, v in (top or {}).items()]
    for row in rows:
        lines.append(f"\n[[{name}]]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in row.items() if v is not None)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Process:
    """One subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the process group (nothing is flushed, nothing is cleaned up)."""
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
        self._log.close()

    def terminate(self, grace: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not stopped within `grace` seconds."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        self.kill()
        return self.popen.returncode

    def output(self, tail: int = 6000) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-tail:]


class Simulator:
    def __init__(self, process: Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def book(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_sim/book").raise_for_status().json()["orders"])

    def positions(self) -> dict[str, int]:
        """Net quantity per symbol on our account (flat symbols left out)."""
        rows = self.http.get("/_sim/positions").raise_for_status().json()["positions"]
        return {p["symbol"]: int(p["quantity"]) for p in rows if p["account_id"] == SIM_ACCOUNT and p["quantity"]}

    def set_faults(self, **faults: float) -> dict[str, Any]:
        return dict(self.http.post("/_sim/faults", json=faults).raise_for_status().json())

    def set_quote(self, symbol: str, bid: str, ask: str) -> dict[str, Any]:
        body = {"bid": bid, "ask": ask, "frozen": True}
        return dict(self.http.post(f"/_sim/quotes/{symbol}", json=body).raise_for_status().json())

    def close(self) -> None:
        self.http.close()


class Serve:
    def __init__(self, process: Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10.0, headers={"Authorization": f"Bearer {API_TOKEN}"})

    def webhook(self, key: str, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post(f"/webhook/{key}", json=dict(body))

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/api{path}", **kwargs)

    def signal(self, signal_id: int) -> dict[str, Any]:
        return dict(self.api("GET", f"/signals/{signal_id}").raise_for_status().json())

    def signals(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.api("GET", "/signals", params={"limit": 500, **params}).raise_for_status().json()["signals"])

    def positions(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/positions").raise_for_status().json()["positions"])

    def trades(self, limit: int = 500) -> list[dict[str, Any]]:
        return list(self.api("GET", "/trades", params={"limit": limit}).raise_for_status().json()["trades"])

    def wait_state(self, signal_id: int, states: set[str], timeout: float) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            s = self.signal(signal_id)
            return s if s["state"] in states else None

        try:
            return wait_until(check, timeout, f"signal {signal_id} to reach {sorted(states)}", interval=0.05)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; it is {self.signal(signal_id)}") from None

    def close(self) -> None:
        self.http.close()


class Processes:
    """Starts the simulator and serve processes in `workdir`; `close()` kills them all."""

    # `bots import` before a serve runs in this process (tests/support/cli.py): a process of
    # its own would cost a second of imports, and it is the serve the tests are about.
    bots_import_in_process = True

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._started: list[Process] = []
        self._clients: list[Simulator | Serve] = []
        self._count = 0

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> Process:
        self._count += 1
        proc = Process(name, argv, env, self.workdir / f"{self._count:02d}-{name}.log", self.workdir)
        self._started.append(proc)
        return proc

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALDESK_", "HERENYA_", "DISCORD_"))}
        env.pop("DATABASE_URL", None)
        env.pop("TELEGRAM_BOT_TOKEN", None)
        env["PYTHONUNBUFFERED"] = "1"
        # Every process of a test (serve, bots import) hashes passphrases with the same key.
        env["SIGNALDESK_SECRET_KEY"] = TEST_SECRET_KEY.decode()
        return env

    def simulator(self, *args: str, config: Path | None = None, timeout: float = 15.0) -> Simulator:
        port = free_port()
        argv = [*signaldesk_command(), "herenya-sim", "--host", "127.0.0.1", "--port", str(port), *args]
        if config is not None:
            argv += ["--config", str(config)]
        env = self.base_env()
        env["LOG_LEVEL"] = "WARNING"
        proc = self.spawn("herenya-sim", argv, env)
        sim = Simulator(proc, f"http://127.0.0.1:{port}")
        self._clients.append(sim)

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"the simulator exited with {proc.popen.returncode}:\n{proc.output()}")
            return sim.http.get("/_sim/faults").status_code == 200

        wait_until(ready, timeout, "the simulator to answer")
        return sim

    def serve_env(self, database_url: str, sim: Simulator | None, **extra: str) -> dict[str, str]:
        env = self.base_env()
        env.update(
            {
                "DATABASE_URL": database_url,
                "SIGNALDESK_API_TOKEN": API_TOKEN,
                "LOG_LEVEL": "INFO",
                "MONITOR_INTERVAL_SECONDS": "0.2",
                "RECONCILE_INTERVAL_SECONDS": "3600",
                "WEBHOOK_RATE_PER_KEY": "10000",
                "WEBHOOK_BURST_PER_KEY": "10000",
                "WEBHOOK_RATE_PER_IP": "10000",
                "WEBHOOK_BURST_PER_IP": "10000",
                "WEBHOOK_MAX_CONNECTIONS_PER_IP": "0",  # bursts of hundreds from one loopback address
            }
        )
        if sim is not None:
            env.update(
                {
                    "HERENYA_BASE_URL": sim.base_url,
                    "HERENYA_API_KEY": SIM_KEY,
                    "HERENYA_API_SECRET": SIM_SECRET,
                    "HERENYA_ACCOUNT_ID": SIM_ACCOUNT,
                    "HERENYA_TIMEOUT": "5",
                }
            )
        env.update(extra)
        return env

    def import_bots(self, env: Mapping[str, str], bots: list[Mapping[str, Any]], timeout: float = 60.0) -> str:
        path = write_toml_tables(self.workdir / f"bots-{self._count + 1}.toml", "bots", bots)
        if self.bots_import_in_process:
            run = run_cli("bots", "import", str(path), env=env, cwd=self.workdir)
            if run.code != 0:
                raise RuntimeError(f"bots import failed ({run.code}):\n{run.out}\n{run.err}")
            return run.out
        done = subprocess.run(
            [*signaldesk_command(), "bots", "import", str(path)],
            env=dict(env),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bots import failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def serve(self, env: Mapping[str, str], timeout: float = 30.0) -> Serve:
        port = free_port()
        env = {**env, "SIGNALDESK_HOST": "127.0.0.1", "SIGNALDESK_PORT": str(port)}
        proc = self.spawn("serve", [*signaldesk_command(), "serve"], env)
        serve = Serve(proc, f"http://127.0.0.1:{port}")
        self._clients.append(serve)

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"signaldesk serve exited with {proc.popen.returncode}:\n{proc.output()}")
            return serve.http.get("/health").status_code in (200, 503)

        wait_until(ready, timeout, "signaldesk serve to answer /health")
        return serve

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for proc in reversed(self._started):
            proc.kill()


@contextmanager
def processes(workdir: Path) -> Iterator[Processes]:
    procs = Processes(workdir)
    try:
        yield procs
    finally:
        procs.close()


def sim_config(
    path: Path,
    *,
    symbols: dict[str, str],
    balance: str = "1000000000",
    seed: int = 7,
    max_quantity: int = 12,
) -> Path:
    """A simulator config: account A1 (test-key) with a large balance, the given symbols at
    the given prices, frozen quotes (no random walk), so alert prices match the quote."""
    lines = [f"seed = {seed}", "quote_step_seconds = 0", ""]
    lines += [
        "[[accounts]]",
        f'account_id = "{SIM_ACCOUNT}"',
        f'api_key = "{SIM_KEY}"',
        f'api_secret = "{SIM_SECRET}"',
        f'balance = "{balance}"',
        "",
    ]
    for symbol, price in symbols.items():
        lines += [
            "[[instruments]]",
            f'symbol = "{symbol}"',
            f'price = "{price}"',
            'tick_size = "0.5"',
            f"max_quantity = {max_quantity}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
