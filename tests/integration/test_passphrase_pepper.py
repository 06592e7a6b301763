"""Passphrases hashed with a server-side secret (issue 15, item 12): a copy of the database
alone cannot test a guess, old-style hashes are replaced at the first good alert, the key is
generated into a private file when not set, and generated webhook keys carry 128 random bits."""

from __future__ import annotations

import json
import logging
import re
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.secret_key import KEY_FILE_NAME, SecretKeyError, load_secret_key
from bot.settings import Settings
from db.database import Database
from tests.conftest import sqlite_url
from tests.integration.web_support import KEY, SystemClock, add_bot
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.credentials import Passphrases, legacy_passphrase_hash, new_webhook_key
from trading.services.intake import ACCEPTED, REFUSED, AlertRequest, Intake
from web.errors import status_for

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-server-secret-key-of-enough-length-0123"


def alert(passphrase: str, n: int = 0) -> AlertRequest:
    body = {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": f"p{n}", "passphrase": passphrase}
    return AlertRequest(
        webhook_key=KEY,
        body=json.dumps(body).encode(),
        content_type="application/json",
        client_ip="127.0.0.1",
        received_at=datetime.now(UTC),
    )


def test_the_hash_depends_on_the_secret_not_only_on_what_the_database_holds() -> None:
    one = Passphrases(b"first-secret-key-0123456789abcdef")
    two = Passphrases(b"other-secret-key-0123456789abcdef")
    stored = one.hash("SA40_RSI_Bot", "change-me")
    assert stored != two.hash("SA40_RSI_Bot", "change-me")
    # Knowing the bot name (the old, public salt) and the stored hash is not enough to check a guess.
    assert stored != legacy_passphrase_hash("change-me", "SA40_RSI_Bot")
    assert not two.matches("SA40_RSI_Bot", "change-me", stored)
    assert one.matches("SA40_RSI_Bot", "change-me", stored)
    assert not one.matches("SA40_RSI_Bot", "wrong", stored)
    assert not one.matches("SA40_RSI_Bot", None, stored)
    assert one.hash("Other_Bot", "change-me") != stored  # equal passphrases on two bots hash apart
    assert "first-secret" not in repr(one)


async def test_a_copy_of_the_database_cannot_verify_without_the_secret(database: Database) -> None:
    await add_bot(database, passphrase="change-me")
    async with database.engine.connect() as conn:
        (stored,) = (await conn.execute(text("SELECT passphrase_hash FROM trading_bots"))).one()
    assert "change-me" not in stored
    assert TEST_PASSPHRASES.matches("SA40_RSI_Bot", "change-me", stored)
    for guesser in (Passphrases(b"guessed-secret-key-0123456789ab"), Passphrases(b"SA40_RSI_Bot" * 2)):
        assert not guesser.matches("SA40_RSI_Bot", "change-me", stored)
    assert stored != legacy_passphrase_hash("change-me", "SA40_RSI_Bot")


async def test_an_old_style_hash_is_upgraded_at_the_first_good_alert(database: Database) -> None:
    bot = await add_bot(database)
    old = legacy_passphrase_hash("change-me", "SA40_RSI_Bot")
    async with database.uow() as uow:
        await uow.bots.set_passphrase_hash(bot.id, old)
        await uow.commit()
    intake = Intake(database.uow, SystemClock(), status_of=status_for, passphrases=TEST_PASSPHRASES)

    wrong = await intake.receive(alert("not-it", 1))
    async with database.uow(read_only=True) as uow:
        after_wrong = await uow.bots.get(bot.id)
    good = await intake.receive(alert("change-me", 2))
    async with database.uow(read_only=True) as uow:
        upgraded = await uow.bots.get(bot.id)
    again = await intake.receive(alert("change-me", 3))

    assert (wrong.outcome, good.outcome, again.outcome) == (REFUSED, ACCEPTED, ACCEPTED)
    assert after_wrong is not None and after_wrong.passphrase_hash == old  # a wrong one changes nothing
    assert upgraded is not None and upgraded.passphrase_hash == TEST_PASSPHRASES.hash("SA40_RSI_Bot", "change-me")
    assert (await intake.receive(alert("not-it", 4))).outcome == REFUSED


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_secret_key_is_generated_once_into_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SIGNALDESK_SECRET_KEY")
    where = settings(database_url=sqlite_url(tmp_path / "desk.db"))
    with caplog.at_level(logging.INFO):
        first = load_secret_key(where)
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert load_secret_key(where) == first  # read back, not generated again
    said = caplog.text
    assert str(path) in said and "SIGNALDESK_SECRET_KEY" in said
    assert first.decode() not in said
    elsewhere = settings(database_url=sqlite_url(tmp_path / "desk.db"), signaldesk_data_dir=str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    assert load_secret_key(elsewhere) != first
    assert (tmp_path / "data" / KEY_FILE_NAME).exists()


def test_a_set_secret_key_is_used_and_a_short_one_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALDESK_SECRET_KEY", SECRET)
    assert load_secret_key(settings(database_url=sqlite_url(tmp_path / "desk.db"))) == SECRET.encode()
    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert SECRET not in repr(settings())
    monkeypatch.setenv("SIGNALDESK_SECRET_KEY", "short")
    with pytest.raises(SecretKeyError, match="too short"):
        load_secret_key(settings())
    monkeypatch.delenv("SIGNALDESK_SECRET_KEY")
    with pytest.raises(SecretKeyError, match="set SIGNALDESK_SECRET_KEY"):
        load_secret_key(settings(database_url="postgresql+asyncpg://u:p@127.0.0.1/x"))


def test_generated_and_example_webhook_keys_have_128_random_bits() -> None:
    for key in (new_webhook_key(), new_webhook_key("sa40rsibot")):
        assert re.fullmatch(r"([a-z0-9]+_)?[0-9a-f]{32,}", key), key
    assert new_webhook_key() != new_webhook_key()
    examples = [ROOT / "bots.example.toml", ROOT / "examples" / "replay" / "bots.toml"]
    for bot in (b for path in examples for b in tomllib.loads(path.read_text())["bots"]):
        tail = bot["webhook_key"].rsplit("_", 1)[-1]
        assert re.fullmatch(r"[0-9a-f]{32,}", tail), bot["webhook_key"]
