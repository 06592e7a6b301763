"""`signaldesk bots alerts NAME [--pine]`: every printed message, with TradingView's
placeholders filled in, goes through the real webhook of a real server and is accepted.
The commands run in this process (tests/support/cli.py) but for one refusal, which runs the
real command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import httpx

from db.database import Database
from tests.conftest import sqlite_url
from tests.integration.test_bots_cli import EXAMPLE, SIGNALDESK
from tests.integration.web_support import make_deps, running
from tests.support.cli import CliRun, signaldesk_in_process
from tests.support.passphrases import TEST_SECRET_KEY
from web.app import create_app

BOTS = {bot["bot_name"]: bot for bot in tomllib.loads(EXAMPLE.read_text())["bots"]}
RSI_BOT, PAPER_BOT = "SA40_RSI_Bot", "SA40_Paper_Auto"
MESSAGE_LINE = re.compile(r"^  (\{.*\})$", re.M)
ACTIONS = ["RSI_LONG_ENTRY", "RSI_SHORT_ENTRY", "RSI_CLOSE_LONG", "RSI_CLOSE_SHORT"]


def environment(url: str, env: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNALDESK_", "DISCORD_"))}
    # The webhook under test hashes with the tests' key: so does the CLI.
    secret = {"SIGNALDESK_SECRET_KEY": TEST_SECRET_KEY.decode()}
    return {**base, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", **secret, **(env or {})}


async def signaldesk(url: str, *args: str, env: dict[str, str] | None = None) -> CliRun:
    """The real command, a process of its own."""
    proc = await asyncio.create_subprocess_exec(
        str(SIGNALDESK),
        *args,
        env=environment(url, env),
        cwd=EXAMPLE.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return CliRun(proc.returncode, out.decode(), err.decode())


async def in_process(url: str, *args: str, env: dict[str, str] | None = None) -> CliRun:
    """The same command in this process."""
    return await signaldesk_in_process(*args, env=environment(url, env), cwd=EXAMPLE.parent)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def webhook_url(out: str) -> str:
    lines = out.splitlines()
    return lines[lines.index("Webhook URL (alert > Notifications > Webhook URL):") + 1].strip()


def messages(out: str) -> list[str]:
    return MESSAGE_LINE.findall(out)


def as_tradingview_sends(message: str, ticker: str, price: str) -> str:
    """What TradingView puts in place of its placeholders when the alert fires."""
    return message.replace("{{timenow}}", now_iso()).replace("{{close}}", price).replace("{{ticker}}", ticker)


async def _imported(tmp_path: Path) -> tuple[str, Database]:
    url = sqlite_url(tmp_path / "desk.db")
    imported = await in_process(url, "bots", "import", str(EXAMPLE))
    assert imported.code == 0, imported.err
    return url, Database(url)


async def _alerts(url: str, name: str, *args: str, public_url: str | None = None) -> CliRun:
    env = {"SIGNALDESK_PUBLIC_URL": public_url} if public_url else {}
    run = await in_process(url, "bots", "alerts", name, *args, env=env)
    assert (run.code, run.err) == (0, ""), run.err
    return run


async def test_every_printed_message_is_accepted_by_the_webhook(tmp_path: Path) -> None:
    url, db = await _imported(tmp_path)
    try:
        async with running(create_app(make_deps(db))) as base, httpx.AsyncClient(timeout=10) as client:
            for name in (RSI_BOT, PAPER_BOT):
                bot = BOTS[name]
                out = (await _alerts(url, name, public_url=base + "/")).out
                printed = messages(out)
                assert [json.loads(m)["action"] for m in printed] == ACTIONS, out
                # The printed URL is the public base, with the key left for the user: only its hash is stored.
                address = webhook_url(out)
                assert address == f"{base}/webhook/<your webhook key>", out
                assert bot["webhook_key"] not in out
                assert f"ends in {bot['webhook_key'][-4:]}" in out
                if "passphrase" in bot:
                    assert all('"passphrase": "<your passphrase>"' in m for m in printed), out
                    assert bot["passphrase"] not in out
                else:
                    assert all("passphrase" not in m for m in printed), out

                target = address.replace("<your webhook key>", bot["webhook_key"])
                for i, message in enumerate(printed):
                    body = as_tradingview_sends(message, bot["tradingview_ticker"], f"5321{i}.5")
                    body = body.replace("<your passphrase>", bot.get("passphrase", ""))
                    response = await client.post(target, content=body, headers={"Content-Type": "application/json"})
                    assert response.status_code == 200, (name, body, response.text)
                    assert response.json()["status"] == "accepted", response.text
                    sent = json.loads(body)
                    assert sent["action"] in ACTIONS and sent["ticker"] == bot["tradingview_ticker"]

                if "passphrase" in bot:
                    # The passphrase is checked: the message as printed, placeholder left in, is refused.
                    body = as_tradingview_sends(printed[0], bot["tradingview_ticker"], "53300.5")
                    response = await client.post(target, content=body, headers={"Content-Type": "application/json"})
                    assert response.status_code == 401, response.text
    finally:
        await db.dispose()


async def test_bots_file_fills_in_the_key_and_passphrase_checked_against_the_stored_hashes(tmp_path: Path) -> None:
    url, db = await _imported(tmp_path)
    try:
        out = (await _alerts(url, RSI_BOT, "--bots-file", str(EXAMPLE))).out
        bot = BOTS[RSI_BOT]
        # SIGNALDESK_PUBLIC_URL unset: the local address, with the advice TradingView needs.
        assert webhook_url(out) == f"http://127.0.0.1:8000/webhook/{bot['webhook_key']}"
        assert "SIGNALDESK_PUBLIC_URL is not set" in out and "443" in out
        printed = messages(out)
        assert len(printed) == 4 and all(json.loads(m)["passphrase"] == bot["passphrase"] for m in printed)

        async with running(create_app(make_deps(db))) as base, httpx.AsyncClient(timeout=10) as client:
            path = webhook_url(out).removeprefix("http://127.0.0.1:8000")
            for message in printed:
                body = as_tradingview_sends(message, bot["tradingview_ticker"], "53210.5")
                response = await client.post(base + path, content=body, headers={"Content-Type": "text/plain"})
                assert response.status_code == 200, (body, response.text)

        other = tmp_path / "other.toml"
        other.write_text(EXAMPLE.read_text().replace('passphrase = "change-me"', 'passphrase = "other"'))
        refused = await in_process(url, "bots", "alerts", RSI_BOT, "--bots-file", str(other))
        assert refused.code == 1 and refused.out == ""
        assert "bot SA40_RSI_Bot: passphrase: the passphrase in" in refused.err
        assert "other" not in refused.err.replace(str(other), "")
    finally:
        await db.dispose()


async def test_an_unknown_bot_is_named_with_the_bots_there_are(tmp_path: Path) -> None:
    url, db = await _imported(tmp_path)
    await db.dispose()
    run = await signaldesk(url, "bots", "alerts", "SA40_Nope")
    assert run.code == 1 and run.out == ""
    assert "bot SA40_Nope: no such bot (the bots: SA40_Paper_Auto, SA40_RSI_Bot)" in run.err


def pine_strings(script: str) -> dict[str, str]:
    """NAME = '...' constants of a Pine script, unescaped."""
    found = re.findall(r"^([A-Z_]+) = '((?:[^'\\]|\\.)*)'$", script, re.M)
    return {name: re.sub(r"\\(.)", r"\1", text) for name, text in found}


async def test_pine_strategy_sends_the_printed_messages_from_its_orders(tmp_path: Path) -> None:
    url, db = await _imported(tmp_path)
    await db.dispose()
    for name in (RSI_BOT, PAPER_BOT):
        bot = BOTS[name]
        printed = messages((await _alerts(url, name)).out)
        script = (await _alerts(url, name, "--pine")).out
        assert script.startswith("//@version=5\n")
        assert re.search(rf"^strategy\(.*pyramiding={bot['max_positions']},", script, re.M)
        assert f"rsiLength = input.int({bot['rsi_length']}, " in script
        assert f"overbought = input.float({float(bot['rsi_overbought'])}, " in script
        constants = pine_strings(script)
        # The templates in the script are the printed messages, word for word...
        assert sorted(constants.values()) == sorted(printed)
        # ...each one is sent by an order's alert_message, filled in by the script.
        for constant in constants:
            assert script.count(f"alert_message=signalMessage({constant})") == 1, constant
        for placeholder in ("{{ticker}}", "{{close}}", "{{timenow}}"):
            assert f'str.replace_all(m, "{placeholder}"' in script or f'(template, "{placeholder}"' in script
        assert "{{strategy.order.alert_message}}" in script
        if "passphrase" in bot:
            assert 'passphrase = input.string("", "Passphrase")' in script
            assert "'<your passphrase>', jsonEscaped(passphrase)" in script
            assert bot["passphrase"] not in script
        else:
            assert "input.string" not in script and "<your passphrase>" not in script
