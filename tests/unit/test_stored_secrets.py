"""The webhook-key and passphrase rule of a bot's save (credentials.secrets_to_store): one
rule in the domain, stored as it answers by the SQL repository and the fake alike."""

from __future__ import annotations

import pytest

from trading.domain.config import BotConfig
from trading.domain.credentials import StoredSecrets, key_hash, secrets_to_store
from trading.domain.records import Bot

KEY = "sa40_rsi_50849a3c"


def hashed(name: str, passphrase: str) -> str:
    return f"hash({name},{passphrase})"


def config(**over: object) -> BotConfig:
    # As a config read back is made: a copy, so a masked key is not re-validated.
    return BotConfig.parse({"bot_name": "SA40_RSI_Bot", "symbol": "SA40", "webhook_key": KEY}).model_copy(update=over)


STORED = Bot(
    id=1,
    config=config(),
    webhook_key_hash=key_hash(KEY),
    webhook_key_hint="****9a3c",
    passphrase_hash="old-hash",
    signing_secret="old-secret",
)


def test_a_new_key_is_stored_as_its_hash_and_hint_never_in_clear() -> None:
    assert secrets_to_store(config(passphrase="open sesame"), None, hashed) == StoredSecrets(
        webhook_key_hash=key_hash(KEY),
        webhook_key_hint="****9a3c",
        passphrase_hash="hash(SA40_RSI_Bot,open sesame)",
        signing_secret=None,
    )


def test_a_config_read_back_keeps_the_stored_secrets_and_changes_what_it_gives() -> None:
    read_back = config(webhook_key="****9a3c")
    assert secrets_to_store(read_back, STORED, hashed) == StoredSecrets(
        key_hash(KEY), "****9a3c", "old-hash", "old-secret"
    )
    changed = secrets_to_store(config(webhook_key="****9a3c", passphrase="new one"), STORED, hashed)
    assert changed.passphrase_hash == "hash(SA40_RSI_Bot,new one)" and changed.webhook_key_hash == key_hash(KEY)


@pytest.mark.parametrize("existing", [None, STORED])
def test_a_masked_key_that_is_not_the_bots_is_refused(existing: Bot | None) -> None:
    with pytest.raises(ValueError, match=r"webhook_key is a masked hint \(\*\*\*\*beef\), not a key"):
        secrets_to_store(config(webhook_key="****beef"), existing, hashed)
