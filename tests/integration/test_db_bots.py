"""Bots: stored by name, secrets only as hashes, runtime state kept across upserts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from db.database import Database
from db.errors import NotFound, WebhookKeyInUse
from db.repositories.bots import STORED_FIELDS
from tests.integration.db_support import add_bot, bot_config
from tests.support.passphrases import TEST_PASSPHRASES
from trading.domain.config import BotConfig
from trading.domain.credentials import key_hash
from trading.domain.values import BrokerName, Mode


def test_every_config_field_has_a_column() -> None:
    assert sorted(STORED_FIELDS) == sorted(BotConfig.model_fields)


async def test_upsert_creates_and_reads_back_without_secrets(database: Database) -> None:
    config = bot_config(signing_secret="sign-me")
    async with database.uow() as uow:
        bot = await uow.bots.upsert(config)
        await uow.commit()
    async with database.uow() as uow:
        by_id = await uow.bots.get(bot.id)
        by_name = await uow.bots.get_by_name("SA40_RSI_Bot")
        by_key = await uow.bots.get_by_key_hash(key_hash("sa40_rsi_bot_50849a3c"))
    assert by_id == by_name == by_key == bot
    assert bot.config == config.model_copy(
        update={"webhook_key": "****9a3c", "passphrase": None, "signing_secret": None}
    )
    assert bot.config.max_daily_loss == Decimal(5000)
    assert bot.config.stop_loss_pct == Decimal("1.5")
    assert bot.webhook_key_hint == "****9a3c"
    assert bot.webhook_key_hash == key_hash("sa40_rsi_bot_50849a3c")
    assert TEST_PASSPHRASES.matches("SA40_RSI_Bot", "change-me", bot.passphrase_hash)
    assert not TEST_PASSPHRASES.matches("SA40_RSI_Bot", "wrong", bot.passphrase_hash)
    assert bot.signing_secret == "sign-me"


async def test_neither_key_nor_passphrase_is_stored_in_clear(database: Database) -> None:
    await add_bot(database)
    async with database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM trading_bots"))).all()
    dumped = repr(rows)
    assert "sa40_rsi_bot_50849a3c" not in dumped
    assert "change-me" not in dumped
    assert TEST_PASSPHRASES.hash("SA40_RSI_Bot", "change-me") in dumped


async def test_upsert_updates_config_and_keeps_runtime_state(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        await uow.bots.set_paused(bot.id, True, "daily loss")
        await uow.bots.set_needs_attention(bot.id, True, "position mismatch")
        await uow.commit()
    new = bot_config(max_positions=5, mode="auto", webhook_key="a_brand_new_key_1234", passphrase=None)
    async with database.uow() as uow:
        updated = await uow.bots.upsert(new)
        await uow.commit()
    assert updated.id == bot.id
    assert updated.config.max_positions == 5
    assert updated.config.mode is Mode.AUTO
    assert updated.webhook_key_hash == key_hash("a_brand_new_key_1234")
    assert updated.passphrase_hash is None
    assert (updated.paused, updated.paused_reason) == (True, "daily loss")
    assert (updated.needs_attention, updated.attention_reason) == (True, "position mismatch")
    async with database.uow() as uow:
        assert await uow.bots.get_by_key_hash(key_hash("sa40_rsi_bot_50849a3c")) is None
        assert len(await uow.bots.list()) == 1


async def test_upsert_of_a_read_back_config_keeps_the_secrets(database: Database) -> None:
    bot = await add_bot(database, signing_secret="sign-me")
    async with database.uow() as uow:
        again = await uow.bots.upsert(bot.config.model_copy(update={"max_positions": 2}))
        await uow.commit()
    assert again.config.max_positions == 2
    assert (again.webhook_key_hash, again.passphrase_hash, again.signing_secret) == (
        bot.webhook_key_hash,
        bot.passphrase_hash,
        "sign-me",
    )


async def test_a_masked_key_for_a_new_bot_is_refused(database: Database) -> None:
    config = bot_config().model_copy(update={"webhook_key": "****9a3c"})
    async with database.uow() as uow:
        with pytest.raises(ValueError, match="masked hint"):
            await uow.bots.upsert(config)


async def test_a_webhook_key_cannot_serve_two_bots(database: Database) -> None:
    await add_bot(database, "First", webhook_key="shared_key_12345")
    async with database.uow() as uow:
        with pytest.raises(WebhookKeyInUse, match="already used by bot First"):
            await uow.bots.upsert(bot_config("Second", webhook_key="shared_key_12345"))
        # The refusal did not poison the transaction.
        assert [b.name for b in await uow.bots.list()] == ["First"]


async def test_runtime_setters(database: Database) -> None:
    bot = await add_bot(database)
    async with database.uow() as uow:
        await uow.bots.set_mode(bot.id, Mode.AUTO)
        await uow.bots.set_paused(bot.id, True, "manual")
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.bots.get(bot.id)
        assert got is not None
        assert got.config.mode is Mode.AUTO and got.paused and got.paused_reason == "manual"
        await uow.bots.set_paused(bot.id, False)
        await uow.bots.set_needs_attention(bot.id, False)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.bots.get(bot.id)
        assert got is not None and not got.paused and got.paused_reason is None
        with pytest.raises(NotFound, match="bot 999 does not exist"):
            await uow.bots.set_mode(999, Mode.AUTO)


async def test_list_is_sorted_by_name(database: Database) -> None:
    await add_bot(database, "Zulu", webhook_key="zulu_key_1234", broker_account="Paper")
    await add_bot(database, "Alpha", webhook_key="alpha_key_1234")
    async with database.uow() as uow:
        bots = await uow.bots.list()
    assert [b.name for b in bots] == ["Alpha", "Zulu"]
    assert bots[1].config.broker_account == BrokerName.PAPER
