"""Several processes of one desk, as shipped: docker-compose.yml runs two replicas on
PostgreSQL behind Caddy, and deploy/signaldesk@.service runs one process per port on a host
with the hardening of deploy/signaldesk.service (issue 26, item 8)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from tests.integration.test_deploy import ROOT, SHIPPED_EXEC, SIGNALDESK, UNIT, _environment, _service, _unit_directives

TEMPLATE = ROOT / "deploy" / "signaldesk@.service"
RUNS_ON = "/usr/bin/env SIGNALDESK_HOST=127.0.0.1 SIGNALDESK_PORT=%i"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_runs_two_replicas_of_one_desk_on_postgresql() -> None:
    c = compose()
    desk = _service(c, "signaldesk")
    assert desk["deploy"]["replicas"] >= 2
    env = _environment(desk)
    assert make_url(env["DATABASE_URL"]).get_backend_name() == "postgresql"  # SQLite serves one process
    assert "container_name" not in desk  # a fixed name allows one container only
    # One volume for all: the generated secret key is created once (a race-free link) and shared.
    assert any(v.endswith(":/data") for v in desk["volumes"])


def test_caddy_spreads_requests_over_every_live_replica() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    port = _environment(_service(compose(), "signaldesk"))["SIGNALDESK_PORT"]
    [proxy] = re.findall(r"reverse_proxy \{(.*?)\n\t\}", caddyfile, re.S)
    directives = [line.strip() for line in proxy.splitlines() if line.strip()]
    assert directives[:5] == ["dynamic a {", "name signaldesk", f"port {port}", "refresh 5s", "}"]
    assert "lb_policy round_robin" in directives
    assert any(d.startswith("lb_try_duration ") for d in directives)  # a refused connection goes elsewhere


def test_the_template_runs_one_process_per_port_hardened_like_the_unit() -> None:
    unit, template = _unit_directives(UNIT.read_text()), _unit_directives(TEMPLATE.read_text())
    assert template["ExecStart"] == [f"{RUNS_ON} {SHIPPED_EXEC} serve"]
    assert "Environment" not in template  # no SQLite default: the environment file names PostgreSQL
    different = {"ExecStart", "Environment", "Description"}
    assert {k: v for k, v in template.items() if k not in different} == {
        k: v for k, v in unit.items() if k not in different
    }
    assert "%i" in template["Description"][0]


def test_the_template_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: tests/with_postgres.sh installs Debian's systemd"
    assert SIGNALDESK.is_file() and os.access(SIGNALDESK, os.X_OK)
    text = TEMPLATE.read_text()
    assert text.count(f" {SHIPPED_EXEC} ") == 1
    unit = tmp_path / "signaldesk@8001.service"  # an instance of the template
    unit.write_text(text.replace(f" {SHIPPED_EXEC} ", f" {SIGNALDESK} "))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    about_unit = [line for line in output.splitlines() if "signaldesk" in line]
    assert result.returncode == 0 and not about_unit, output
