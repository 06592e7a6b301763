"""`signaldesk bots import|list|new`, run as the real command against real databases."""

from __future__ import annotations

import asyncio
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli.main import main
from db.database import Database
from tests.conftest import sqlite_url
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.credentials import key_hash
from trading.domain.records import AuditEntry, Bot

ROOT = Path(__file__).resolve().parents[2]
SIGNALDESK = Path(sys.executable).with_name("signaldesk")
EXAMPLE = ROOT / "bots.example.toml"
KEYS = {bot["bot_name"]: bot["webhook_key"] for bot in tomllib.loads(EXAMPLE.read_text())["bots"]}
RSI_KEY, PAPER_KEY = KEYS["SA40_RSI_Bot"], KEYS["SA40_Paper_Auto"]


@dataclass
class Run:
    code: int
    out: str
    err: str


async def signaldesk(url: str, *args: str) -> Run:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(
        str(SIGNALDESK), *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def _bot_names(url: str) -> list[str]:
    db = Database(url)
    try:
        async with db.uow() as uow:
            return [b.name for b in await uow.bots.list()]
    finally:
        await db.dispose()


async def test_import_is_idempotent_and_list_masks_keys(database_url: str) -> None:
    first = await signaldesk(database_url, "bots", "import", str(EXAMPLE))
    assert (first.code, first.err) == (0, "")
    assert first.out.split() == ["created", "SA40_RSI_Bot", "created", "SA40_Paper_Auto"]

    again, listed = await asyncio.gather(
        signaldesk(database_url, "bots", "import", str(EXAMPLE)), signaldesk(database_url, "bots", "list")
    )
    assert again.out.split() == ["unchanged", "SA40_RSI_Bot", "unchanged", "SA40_Paper_Auto"]
    assert listed.code == 0
    lines = listed.out.splitlines()
    assert lines[0].split() == ["NAME", "BROKER", "SYMBOL", "TICKER", "MODE", "ACTIVE", "STATE", "WEBHOOK", "KEY"]
    paper, rsi = f"****{PAPER_KEY[-4:]}", f"****{RSI_KEY[-4:]}"
    assert lines[1].split() == ["SA40_Paper_Auto", "Paper", "SA40", "SA40", "auto", "yes", "ok", paper]
    assert lines[2].split() == ["SA40_RSI_Bot", "Herenya", "SA40", "SA40", "approve", "yes", "ok", rsi]
    assert RSI_KEY not in listed.out and PAPER_KEY not in listed.out


async def test_a_bad_file_imports_nothing_and_names_bot_and_field(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    bad = tmp_path / "bots.toml"
    bad.write_text(
        EXAMPLE.read_text()
        .replace("rsi_length = 14", "rsi_length = 0")
        .replace('mode = "auto"', 'mode = "yolo"\ncolour = "red"')
    )
    run = await signaldesk(url, "bots", "import", str(bad))
    assert run.code == 1
    assert run.out == ""
    errors = run.err.splitlines()
    assert "bot SA40_Paper_Auto: rsi_length: Input should be greater than or equal to 1" in errors
    assert "bot SA40_Paper_Auto: mode: must be 'auto' or 'approve', not 'yolo'" in errors
    assert "bot SA40_Paper_Auto: colour: unknown field" in errors
    assert errors[-1] == "nothing was imported"
    assert await _bot_names(url) == []  # the valid first bot was not imported either


# The variants below run the same entry point in-process (bot.cli.main): a subprocess
# each would cost a second of imports apiece.


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Run:
    monkeypatch.setenv("DATABASE_URL", url)
    code = main(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def test_a_changed_bot_is_updated_and_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    assert cli(monkeypatch, capsys, url, "bots", "import", str(EXAMPLE)).code == 0
    changed = tmp_path / "bots.toml"
    changed.write_text(EXAMPLE.read_text().replace("max_positions = 3", "max_positions = 2"))
    run = cli(monkeypatch, capsys, url, "bots", "import", str(changed))
    assert run.out.split() == ["updated", "SA40_RSI_Bot", "unchanged", "SA40_Paper_Auto"]
    new_pass = tmp_path / "pass.toml"
    new_pass.write_text(changed.read_text().replace('"change-me"', '"changed-too"'))
    run = cli(monkeypatch, capsys, url, "bots", "import", str(new_pass))
    assert run.out.split() == ["updated", "SA40_RSI_Bot", "unchanged", "SA40_Paper_Auto"]

    async def stored() -> tuple[Bot | None, list[AuditEntry]]:
        db = Database(url)
        try:
            async with db.uow() as uow:
                return await uow.bots.get_by_key_hash(key_hash(RSI_KEY)), await uow.audit.list()
        finally:
            await db.dispose()

    bot, audit = asyncio.run(stored())
    assert bot is not None and bot.config.max_positions == 2
    assert TEST_PASSPHRASES.matches("SA40_RSI_Bot", "changed-too", bot.passphrase_hash)
    assert [(a.actor, a.action, a.target, a.detail) for a in audit] == [
        ("cli", "bots import", "bot:SA40_RSI_Bot", "updated"),
        ("cli", "bots import", "bot:SA40_RSI_Bot", "updated"),
        ("cli", "bots import", "bot:SA40_Paper_Auto", "created"),
        ("cli", "bots import", "bot:SA40_RSI_Bot", "created"),
    ]


def test_file_level_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    text = EXAMPLE.read_text()
    first_bot = text[text.index("[[bots]]") : text.index("[[bots]]", text.index("[[bots]]") + 1)]
    dup = tmp_path / "dup.toml"
    dup.write_text(text + "\n" + first_bot)
    shared = tmp_path / "shared.toml"
    shared.write_text(text.replace(PAPER_KEY, RSI_KEY))
    missing, not_toml, empty = tmp_path / "missing.toml", tmp_path / "bad.toml", tmp_path / "empty.toml"
    not_toml.write_text("[[bots]\nbot_name = ")
    empty.write_text("# nothing\n")
    expected = {
        dup: "bot SA40_RSI_Bot: bot_name: appears more than once in the file",
        shared: "bot SA40_Paper_Auto: webhook_key: is also the key of bot SA40_RSI_Bot; every bot needs its own",
        missing: f"{missing}: cannot read",
        not_toml: f"{not_toml}: not valid TOML",
        empty: f"{empty}: no [[bots]] tables found",
    }
    for path, message in expected.items():
        run = cli(monkeypatch, capsys, url, "bots", "import", str(path))
        assert run.code == 1, path
        assert message in run.err, run.err
    assert cli(monkeypatch, capsys, url, "bots", "list").out.startswith("no bots yet")


def test_a_key_taken_by_a_stored_bot_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    assert cli(monkeypatch, capsys, url, "bots", "import", str(EXAMPLE)).code == 0
    other = tmp_path / "other.toml"
    other.write_text(f'[[bots]]\nbot_name = "Thief"\nsymbol = "SA40"\nwebhook_key = "{RSI_KEY}"\n')
    run = cli(monkeypatch, capsys, url, "bots", "import", str(other))
    assert run.code == 1
    assert "bot Thief: webhook_key: is already used by bot SA40_RSI_Bot" in run.err
    assert RSI_KEY not in run.err


def test_new_prints_a_fresh_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    run = cli(
        monkeypatch, capsys, url, "bots", "new", "Gold.Bot", "--symbol", "XAU", "--broker", "Paper", "--mode", "auto"
    )
    assert run.code == 0, run.err
    (key_line,) = [line for line in run.out.splitlines() if line.startswith("webhook key: ")]
    key = key_line.removeprefix("webhook key: ")
    assert key.startswith("goldbot_") and len(key) >= 24
    second = cli(monkeypatch, capsys, url, "bots", "new", "Silver")
    assert key not in second.out

    listed = cli(monkeypatch, capsys, url, "bots", "list")
    assert key not in listed.out and f"****{key[-4:]}" in listed.out

    again = cli(monkeypatch, capsys, url, "bots", "new", "Gold.Bot")
    assert again.code == 1
    assert "bot Gold.Bot: bot_name: a bot with this name exists already" in again.err

    async def stored() -> Bot | None:
        db = Database(url)
        try:
            async with db.uow() as uow:
                return await uow.bots.get_by_key_hash(key_hash(key))
        finally:
            await db.dispose()

    bot = asyncio.run(stored())
    assert bot is not None
    assert (bot.name, bot.config.symbol, bot.config.mode.value, bot.config.broker_account) == (
        "Gold.Bot",
        "XAU",
        "auto",
        "Paper",
    )


def test_new_proposes_that_only_entries_wait_for_an_approver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    assert cli(monkeypatch, capsys, url, "bots", "new", "Gold.Bot").code == 0
    assert cli(monkeypatch, capsys, url, "bots", "new", "Silver", "--approve", "all").code == 0

    async def stored() -> dict[str, str]:
        db = Database(url)
        try:
            async with db.uow() as uow:
                return {b.name: b.config.approve.value for b in await uow.bots.list()}
        finally:
            await db.dispose()

    assert asyncio.run(stored()) == {"Gold.Bot": "entries", "Silver": "all"}


def test_new_takes_any_configured_account_and_refuses_an_unknown_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "cli.db")
    unknown = cli(monkeypatch, capsys, url, "bots", "new", "Prop.Bot", "--broker", "prop")
    assert unknown.code == 1
    assert unknown.err.startswith(
        "bot Prop.Bot: broker_account: no account named 'prop' (the accounts: Herenya, Paper)"
    )
    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[[accounts]]\nname = "prop"\nbroker = "paper"\ncurrency = "USD"\nstarting_balance = 1000\n')
    assert cli(monkeypatch, capsys, url, "accounts", "import", str(accounts)).code == 0
    created = cli(monkeypatch, capsys, url, "bots", "new", "Prop.Bot", "--broker", "prop")
    assert created.code == 0, created.err
    assert "created bot Prop.Bot (prop SA40, approve)" in created.out


async def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    """`signaldesk bots alerts NAME | head -1`: the reader goes away; no traceback follows."""
    url = sqlite_url(tmp_path / "signaldesk.db")
    assert (await signaldesk(url, "bots", "import", str(EXAMPLE))).code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `head` does once it has its lines
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    try:
        proc = await asyncio.create_subprocess_exec(
            str(SIGNALDESK), "bots", "alerts", "SA40_RSI_Bot", env=env, cwd=ROOT, stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert err.decode() == ""
    assert proc.returncode == 141  # as a shell reports a command ended by SIGPIPE
