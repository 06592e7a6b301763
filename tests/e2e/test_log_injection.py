"""The running server's log cannot be forged from input: a JSON key or a ticker holding a
newline and terminal escape codes ends up escaped on one line of `signaldesk serve`'s log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.procs import Processes, now_iso, processes

KEY = "log_injection_paper_key_0123456789abcdef"
FORGED = "2026-12-01 00:00:00,000 CRITICAL signaldesk.app: forged"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    with processes(tmp_path) as p:
        yield p


def test_control_characters_from_alerts_are_escaped_in_the_log(procs: Processes, tmp_path: Path) -> None:
    env = procs.serve_env(f"sqlite+aiosqlite:///{tmp_path / 'signaldesk.db'}", None)
    procs.import_bots(
        env,
        [{"bot_name": "Log_Paper", "symbol": "SA40", "broker_account": "Paper", "mode": "auto", "webhook_key": KEY}],
    )
    serve = procs.serve(env)
    nasty = f"x\n{FORGED}\x1b[2J\r"
    # a key no bot has, with the injection in a JSON key; then a real key with it in the ticker
    unknown = serve.http.post("/webhook/no_such_key", content=f'{{"{nasty}": "{{{{close}}}}"}}'.encode())
    assert unknown.status_code in (400, 401, 422)
    body = {"action": "RSI_LONG_ENTRY", "price": "53210.5", "time": now_iso(), "ticker": nasty}
    refused = serve.webhook(KEY, body)
    assert refused.status_code == 422, refused.text

    serve.process.terminate()  # stopped, so its whole log is written
    log = serve.process.log_path.read_text(encoding="utf-8", errors="replace")
    assert "\x1b" not in log
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    assert "\\x1b[2J" in log  # it was logged, escaped
