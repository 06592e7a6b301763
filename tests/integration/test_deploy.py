"""Deployment: what can be checked without a Docker engine or a running systemd.

The compose file is read with PyYAML and held against the settings the app reads; the
Dockerfile's stages, user and health probe are read from the file, and both health probes
are run against a local server answering 200 and 503; the systemd unit passes
`systemd-analyze verify`; `signaldesk db backup` copies a live SQLite database while a
writer keeps committing signals.
"""

from __future__ import annotations

import asyncio
import http.server
import inspect
import ipaddress
import itertools
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from bot import app as app_module
from bot.cli.db_backup import backup_sqlite_async
from bot.settings import Settings, setting_fields
from db.database import Database
from tests.conftest import sqlite_url
from tests.integration.db_support import add_bot, full_signal, signal_time
from tests.support.cli import signaldesk_in_process
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.signals import SignalState

ROOT = Path(__file__).resolve().parents[2]
SIGNALDESK = Path(sys.executable).with_name("signaldesk")
SETTINGS = set(setting_fields())
UNIT = ROOT / "deploy" / "signaldesk.service"
SHIPPED_EXEC = "/opt/signaldesk/.venv/bin/signaldesk"


# --- docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=value form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """source -> target for the service's named volumes (bind mounts start with . or /)."""
    out = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        if not source.startswith((".", "/")):
            out[source] = target
    return out


def test_compose_names_its_services_and_volumes(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "signaldesk", "caddy"}
    # `docker compose up` starts the desk and its database; Caddy only with --profile tls.
    assert "profiles" not in _service(compose, "postgres")
    assert "profiles" not in _service(compose, "signaldesk")
    assert _service(compose, "caddy")["profiles"] == ["tls"]

    declared = set(compose["volumes"])
    for name in compose["services"]:
        used = _named_volumes(_service(compose, name))
        assert set(used) <= declared, f"{name} uses undeclared volumes {set(used) - declared}"
    assert _named_volumes(_service(compose, "postgres")) == {"pgdata": "/var/lib/postgresql/data"}
    assert _named_volumes(_service(compose, "signaldesk")) == {"signaldesk-data": "/data"}

    for name in compose["services"]:  # every bind-mounted file is in the repository
        for entry in _service(compose, name).get("volumes", []):
            source = entry.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name} mounts {source}, which is not in the repository"


def test_compose_postgres_is_healthy_before_signaldesk_starts(compose: dict[str, Any]) -> None:
    postgres = _service(compose, "postgres")
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    desk = _service(compose, "signaldesk")
    assert desk["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert desk["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert desk["env_file"] in (".env", [".env"])
    assert "/health" in " ".join(desk["healthcheck"]["test"])
    assert desk["restart"] == "unless-stopped"


def test_compose_sets_only_real_settings(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    env = _environment(_service(compose, "signaldesk"))
    assert env, "signaldesk's environment is empty"
    unknown = set(env) - SETTINGS
    assert not unknown, f"docker-compose.yml sets {sorted(unknown)}, which signaldesk does not read"
    # The values parse as the settings they are (the ${...} is Compose's, filled in from .env).
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("${POSTGRES_PASSWORD}", "pw"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # .env.example's BOTS_FILE (bots.example.toml, whose webhook keys are public) is overridden.
    assert settings.bots_file == ""


def test_compose_database_url_points_at_the_postgres_service(compose: dict[str, Any]) -> None:
    postgres_env = _environment(_service(compose, "postgres"))
    url_text = _environment(_service(compose, "signaldesk"))["DATABASE_URL"]
    password_ref = re.fullmatch(r"\$\{(\w+)(?::?[?-].*)?\}", postgres_env["POSTGRES_PASSWORD"])
    assert password_ref, "the postgres password must come from .env, not be written in the compose file"
    assert f"${{{password_ref.group(1)}}}" in url_text, "DATABASE_URL must use the postgres service's password"

    url = make_url(url_text.replace(f"${{{password_ref.group(1)}}}", "pw"))
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "postgres" and url.host in compose["services"]
    assert url.port == 5432
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.database == postgres_env["POSTGRES_DB"]


def test_compose_trusts_caddy_and_nobody_else(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    desk, caddy = _service(compose, "signaldesk"), _service(compose, "caddy")
    monkeypatch.setenv("WEBHOOK_TRUSTED_PROXIES", _environment(desk)["WEBHOOK_TRUSTED_PROXIES"])
    trusted = Settings(_env_file=None)  # type: ignore[call-arg]
    [network_name] = desk["networks"]
    caddy_address = caddy["networks"][network_name]["ipv4_address"]
    assert trusted.webhook.trusted_proxies == [caddy_address]
    [subnet] = [c["subnet"] for c in compose["networks"][network_name]["ipam"]["config"]]
    assert ipaddress.ip_address(caddy_address) in ipaddress.ip_network(subnet)
    assert {"80:80", "443:443"} <= set(caddy["ports"])

    env = _environment(desk)
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    # every replica of the service, by Docker's DNS (tests/integration/test_deploy_replicas.py)
    assert re.search(rf"dynamic a \{{\s*name signaldesk\s*port {env['SIGNALDESK_PORT']}\s", caddyfile)
    assert "{$SIGNALDESK_DOMAIN}" in caddyfile
    assert "/etc/caddy/Caddyfile" in " ".join(caddy["volumes"])
    # signaldesk listens on every interface in its container, published on the host's loopback only.
    assert env["SIGNALDESK_HOST"] == "0.0.0.0"
    port = int(env["SIGNALDESK_PORT"])
    assert desk["ports"] == [f"127.0.0.1:{port}-{port + 9}:{port}"]  # a host port per replica


def test_compose_without_the_tls_profile_needs_no_domain(compose: dict[str, Any]) -> None:
    # Compose interpolates every service, profile or not: a required ${X:?} in Caddy's
    # service would stop a plain `docker compose up`. Caddy's entrypoint checks instead.
    caddy = _service(compose, "caddy")
    assert _environment(caddy)["SIGNALDESK_DOMAIN"] == "${SIGNALDESK_DOMAIN:-}"
    shell, flag, script = caddy["entrypoint"]
    assert (shell, flag) == ("/bin/sh", "-c")
    script = script.replace("$$", "$")  # Compose's escape for a literal $
    result = subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": os.environ["PATH"], "SIGNALDESK_DOMAIN": ""},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "set SIGNALDESK_DOMAIN in .env" in result.stderr
    assert script.endswith("exec caddy run --config /etc/caddy/Caddyfile --adapter caddyfile")


def test_compose_variables_are_in_env_example(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    variables = set(re.findall(r"\$\{(\w+)", text))
    assert variables == {"POSTGRES_PASSWORD", "SIGNALDESK_DOMAIN"}
    example = (ROOT / ".env.example").read_text()
    for name in variables:
        assert re.search(rf"^#? ?{name}=", example, re.M), f".env.example does not mention {name}"


def test_stop_grace_outlasts_the_shutdown(compose: dict[str, Any]) -> None:
    grace = inspect.signature(app_module.stop).parameters["grace"].default
    # the runner's grace, then Hypercorn's 5 s and the event bus's 3 s drain, with room to spare
    needed = grace + 5 + 3
    compose_grace = _service(compose, "signaldesk")["stop_grace_period"]
    assert compose_grace.endswith("s") and int(compose_grace[:-1]) >= 2 * needed
    unit = _unit_directives(UNIT.read_text())
    assert int(unit["TimeoutStopSec"][-1]) >= 2 * needed


# --- Dockerfile


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _dockerfile_stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def _env_instructions(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_dockerfile_builds_in_two_stages_and_runs_as_a_user() -> None:
    builder, final = _dockerfile_stages()
    assert builder.base == final.base == "python:3.11-slim"
    assert builder.name == "builder"
    assert any("pip install ." in run for run in builder.all("RUN"))
    # The final stage takes the virtualenv from the builder and copies nothing from the context.
    copies = final.all("COPY")
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    [user] = final.all("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert any("useradd" in run and user in run for run in final.all("RUN"))
    assert json.loads(final.all("CMD")[-1]) == ["signaldesk", "serve"]


def test_dockerfile_environment_is_settings_and_keeps_sqlite_on_the_volume() -> None:
    final = _dockerfile_stages()[-1]
    env = _env_instructions(final)
    app_env = {k for k in env if not k.startswith(("PYTHON", "PIP_")) and k != "PATH"}
    assert app_env <= SETTINGS, f"the Dockerfile sets {sorted(app_env - SETTINGS)}, which signaldesk does not read"
    [volume] = final.all("VOLUME")
    assert json.loads(volume) == ["/data"]
    assert make_url(env["DATABASE_URL"]).database == "/data/signaldesk.db"
    assert final.all("EXPOSE") == [env["SIGNALDESK_PORT"]]
    assert env["SIGNALDESK_HOST"] == "0.0.0.0"


def test_dockerignore_keeps_secrets_and_databases_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".env", ".venv/", "*.db", ".git"):
        assert pattern in ignored


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def _probe(command: list[str], env: dict[str, str]) -> int:
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]], env={**os.environ, **env}, capture_output=True, timeout=20
    ).returncode


def test_dockerfile_healthcheck_fails_on_503(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    [healthcheck] = _dockerfile_stages()[-1].all("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert "/health" in command[-1] and "urllib" in command[-1]
    env = {"SIGNALDESK_PORT": str(port)}
    assert _probe(command, env) == 0
    handler.status = 503
    assert _probe(command, env) == 1  # 1 = unhealthy (Docker reserves 2)


def test_compose_healthcheck_fails_on_503(compose: dict[str, Any], health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    test = _service(compose, "signaldesk")["healthcheck"]["test"]
    assert test[0] == "CMD"
    desk_port = _environment(_service(compose, "signaldesk"))["SIGNALDESK_PORT"]
    assert test[-1].count(f":{desk_port}/health") == 1
    command = [*test[1:-1], test[-1].replace(f":{desk_port}/health", f":{port}/health")]
    assert _probe(command, {}) == 0
    handler.status = 503
    assert _probe(command, {}) == 1


# --- systemd


def _unit_directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_unit_is_hardened() -> None:
    d = _unit_directives(UNIT.read_text())
    assert d["ExecStart"] == [f"{SHIPPED_EXEC} serve"]
    assert d["User"] == ["signaldesk"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "Restart": "on-failure",
    }.items():
        assert d[key] == [value], key
    assert "@system-service" in d["SystemCallFilter"]
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert d["EnvironmentFile"] == ["/etc/signaldesk/signaldesk.env"]
    # The only writable place is the data directory, and the SQLite file lives there.
    [data_dir] = d["ReadWritePaths"]
    assert d["WorkingDirectory"] == [data_dir] and d["StateDirectory"] == [Path(data_dir).name]
    env = dict(item.split("=", 1) for item in d["Environment"])
    assert set(env) <= SETTINGS
    assert Path(make_url(env["DATABASE_URL"]).database or "").parent == Path(data_dir)


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists. Rather than plant a stub under /opt
    # (root, and a fake program), the unit is verified as shipped but for that one path,
    # pointed at the signaldesk this test suite runs.
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: tests/with_postgres.sh installs Debian's systemd"
    text = UNIT.read_text()
    assert text.count(f"ExecStart={SHIPPED_EXEC} ") == 1
    assert SIGNALDESK.is_file() and os.access(SIGNALDESK, os.X_OK)
    unit = tmp_path / "signaldesk.service"
    unit.write_text(text.replace(f"ExecStart={SHIPPED_EXEC} ", f"ExecStart={SIGNALDESK} "))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    # verify exits 0 on unknown keys and bad values, and says so on stderr naming the unit.
    about_unit = [line for line in output.splitlines() if "signaldesk" in line]
    assert result.returncode == 0 and not about_unit, output


# --- signaldesk db backup


@dataclass
class Writer:
    """Commits signals one per transaction through the app's own db layer; `committed`
    holds (id, n) only once the commit returned."""

    db: Database
    bot_id: int
    committed: list[tuple[int, int]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        n = len(self.committed)
        while not self.stop.is_set():
            async with self.db.uow() as uow:
                stored = await uow.signals.add(
                    self.bot_id,
                    full_signal(n),
                    body_hash=f"body-{n}",
                    state=SignalState.RECEIVED,
                    cause="backup-test",
                    at=signal_time(n),
                )
                await uow.commit()
            self.committed.append((stored.id, n))
            self.progress.set()
            n += 1
            await asyncio.sleep(0)

    async def until(self, count: int) -> None:
        async with asyncio.timeout(60):
            while len(self.committed) < count:
                self.progress.clear()
                await self.progress.wait()


def _check_backup(path: Path, before: list[tuple[int, int]], all_committed: list[tuple[int, int]]) -> set[int]:
    """The copy is sound, holds every signal committed before the backup started, holds
    nothing never committed, and no signal without its first state change (no torn transaction)."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        rows = dict(conn.execute("SELECT id, alert_id FROM signals").fetchall())
        without_history = conn.execute(
            "SELECT count(*) FROM signals s WHERE NOT EXISTS (SELECT 1 FROM signal_state_changes c WHERE c.signal_id = s.id)"
        ).fetchone()
    finally:
        conn.close()
    missing = [signal_id for signal_id, _ in before if signal_id not in rows]
    assert not missing, f"{len(missing)} signals committed before the backup are missing, e.g. {missing[:5]}"
    assert all(rows[signal_id] == f"alert-{n}" for signal_id, n in before)
    assert set(rows) <= {signal_id for signal_id, _ in all_committed}
    assert without_history == (0,)
    assert not path.with_name(path.name + "-wal").exists()
    return set(rows)


async def _live_database(tmp_path: Path) -> tuple[Path, Database, Writer]:
    source = tmp_path / "live.db"
    db = Database(sqlite_url(source), passphrases=TEST_PASSPHRASES)
    await db.upgrade()
    bot = await add_bot(db)
    return source, db, Writer(db, bot.id)


async def test_backup_command_copies_a_database_that_is_being_written(tmp_path: Path) -> None:
    source, db, writer = await _live_database(tmp_path)
    task = asyncio.create_task(writer.run())
    try:
        await writer.until(100)
        before = list(writer.committed)
        target = tmp_path / "backups" / "desk.db"
        target.parent.mkdir()
        proc = await asyncio.create_subprocess_exec(
            str(SIGNALDESK),
            "db",
            "backup",
            str(target),
            env={**os.environ, "DATABASE_URL": sqlite_url(source), "LOG_LEVEL": "WARNING"},
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        during = len(writer.committed) - len(before)
        await writer.until(len(writer.committed) + 5)  # and the writer still goes on afterwards
    finally:
        writer.stop.set()
        await task
        await db.dispose()
    assert (proc.returncode, err.decode()) == (0, ""), out.decode()
    assert during > 0, "the writer committed nothing while the backup ran: it was not a live backup"
    held = _check_backup(target, before, writer.committed)
    assert f"backed up {source} to {target}" in out.decode()
    assert f"{len(held)} signals; integrity_check ok" in out.decode()
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["desk.db"]  # no partial file left beside it

    # Restoring is copying the file back: the app opens it, finds its schema current and its signals.
    restored = Database(sqlite_url(target), passphrases=TEST_PASSPHRASES)
    try:
        await restored.upgrade()
        async with restored.uow() as uow:
            assert len(await uow.signals.list(limit=1_000_000)) == len(held)
    finally:
        await restored.dispose()


async def test_backup_in_a_thread_leaves_the_event_loop_writing(tmp_path: Path) -> None:
    source, db, writer = await _live_database(tmp_path)
    task = asyncio.create_task(writer.run())
    held: list[set[int]] = []
    try:
        for i in range(5):
            await writer.until(len(writer.committed) + 20)
            before = list(writer.committed)
            result = await backup_sqlite_async(source, tmp_path / f"b{i}.db")
            held.append(_check_backup(result.target, before, writer.committed))
            assert result.signals == len(held[-1])
    finally:
        writer.stop.set()
        await task
        await db.dispose()
    assert all(a < b for a, b in itertools.pairwise(held)), "each backup holds more than the last"


async def _run(*args: str, url: str, cwd: Path) -> tuple[int, str, str]:
    """The command in this process (tests/support/cli.py): the live backup above runs the real one."""
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    run = await signaldesk_in_process(*args, env=env, cwd=cwd)
    return run.code, run.out, run.err


async def test_backup_on_postgresql_prints_pg_dump_advice_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://desk:Sup3r-s3cret@db.internal:6543/trading"
    code, out, err = await _run("db", "backup", str(tmp_path / "desk.dump"), url=url, cwd=tmp_path)
    assert code == 3 and out == ""
    assert (
        f"pg_dump --format=custom --host=db.internal --port=6543 --username=desk --dbname=trading "
        f"--file={tmp_path / 'desk.dump'}"
    ) in err
    assert "Sup3r-s3cret" not in err and "PGPASSWORD" in err
    assert os.listdir(tmp_path) == []


async def test_backup_refusals_say_why_and_change_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    code, out, err = await _run("db", "backup", str(tmp_path / "b.db"), url=sqlite_url(missing), cwd=tmp_path)
    assert (code, out) == (1, "")
    assert (
        err
        == f"signaldesk db backup: database file {missing} does not exist (check DATABASE_URL and the working directory)\n"
    )
    assert os.listdir(tmp_path) == []  # in particular, no empty database was created

    code, _, err = await _run("db", "backup", str(tmp_path / "b.db"), url="sqlite+aiosqlite:///:memory:", cwd=tmp_path)
    assert code == 1 and "in-memory" in err

    source = tmp_path / "desk.db"
    db = Database(sqlite_url(source), passphrases=TEST_PASSPHRASES)
    await db.upgrade()
    await db.dispose()
    target = tmp_path / "b.db"
    target.write_text("an older backup")
    code, _, err = await _run("db", "backup", str(target), url=sqlite_url(source), cwd=tmp_path)
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert target.read_text() == "an older backup"
    code, _, err = await _run("db", "backup", str(source), "--overwrite", url=sqlite_url(source), cwd=tmp_path)
    assert code == 1 and "is the database itself" in err
    code, out, err = await _run("db", "backup", str(target), "--overwrite", url=sqlite_url(source), cwd=tmp_path)
    assert (code, err) == (0, "") and "0 signals" in out
    _check_backup(target, [], [])
