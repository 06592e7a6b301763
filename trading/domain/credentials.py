"""Hashing of webhook keys and passphrases, so neither is stored in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from trading.domain.config import BotConfig
from trading.domain.records import Bot

# A passphrase hash keyed by the server's secret starts with this; one without it is of the
# old kind (keyed by the bot name only), verified the old way once and then replaced.
PEPPERED = "v2$"
MIN_SECRET_KEY_BYTES = 16
MASK = "****"  # a key's hint starts with it: what a config read back carries instead of the key


def key_hash(webhook_key: str) -> str:
    """Webhook keys are long and random, so a plain SHA-256 is enough to look them up by."""
    return hashlib.sha256(webhook_key.encode()).hexdigest()


def key_hint(webhook_key: str) -> str:
    return MASK + webhook_key[-4:]


@dataclass(frozen=True, slots=True)
class StoredSecrets:
    """What a bot's row keeps of its secrets (the names are the Bot's and the columns')."""

    webhook_key_hash: str
    webhook_key_hint: str
    passphrase_hash: str | None
    signing_secret: str | None


def secrets_to_store(
    config: BotConfig, existing: Bot | None, passphrase_hash: Callable[[str, str], str]
) -> StoredSecrets:
    """The secrets to store for `config` (`passphrase_hash(bot_name, passphrase)` hashes a
    new passphrase). A config read back carries the masked key ("****abcd"): when it matches
    the stored hint the stored key hash is kept, and a passphrase / signing secret left None
    keeps the stored one, so saving `bot.config.model_copy(update=...)` changes only what it
    says. ValueError for a masked key that is not this bot's."""
    name = config.bot_name
    if config.webhook_key.startswith(MASK):
        if existing is None or config.webhook_key != existing.webhook_key_hint:
            raise ValueError(
                f"bot {name}: webhook_key is a masked hint ({config.webhook_key}), not a key; "
                "give the real key or a fresh one"
            )
        return StoredSecrets(
            webhook_key_hash=existing.webhook_key_hash,
            webhook_key_hint=existing.webhook_key_hint,
            passphrase_hash=passphrase_hash(name, config.passphrase) if config.passphrase else existing.passphrase_hash,
            signing_secret=config.signing_secret or existing.signing_secret,
        )
    return StoredSecrets(
        webhook_key_hash=key_hash(config.webhook_key),
        webhook_key_hint=key_hint(config.webhook_key),
        passphrase_hash=passphrase_hash(name, config.passphrase) if config.passphrase else None,
        signing_secret=config.signing_secret,
    )


def legacy_passphrase_hash(passphrase: str, salt: str) -> str:
    """The old hash: HMAC-SHA256 keyed by the bot name, a public salt. Only verified (and
    then replaced), never written any more."""
    return hmac.new(salt.encode(), passphrase.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class PassphraseCheck:
    ok: bool
    # When the stored hash is of the old kind and the passphrase matched: the hash to store
    # in its place (the passphrase is known only now).
    rehash: str | None = None


class Passphrases:
    """Bot passphrases hashed with a server-side secret (a pepper): HMAC-SHA256 keyed by the
    secret, over the bot name and the passphrase. A copy of the database alone cannot test a
    guess; equal passphrases on two bots hash apart. Comparisons are constant-time."""

    def __init__(self, secret_key: bytes) -> None:
        if len(secret_key) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"the secret key must be at least {MIN_SECRET_KEY_BYTES} bytes")
        self._key = secret_key

    def __repr__(self) -> str:
        return "Passphrases(secret_key=**********)"

    def hash(self, bot_name: str, passphrase: str) -> str:
        mac = hmac.new(self._key, bot_name.encode() + b"\0" + passphrase.encode(), hashlib.sha256).digest()
        return PEPPERED + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def check(self, bot_name: str, given: str | None, stored_hash: str | None) -> PassphraseCheck:
        """Whether `given` is the passphrase of the bot whose stored hash is `stored_hash`
        (None: the bot has no passphrase, anything goes)."""
        if stored_hash is None:
            return PassphraseCheck(True)
        # A missing passphrase is compared as an empty one, so it takes as long as a wrong one.
        candidate = given if given is not None else ""
        if stored_hash.startswith(PEPPERED):
            ok = hmac.compare_digest(stored_hash.encode(), self.hash(bot_name, candidate).encode())
            return PassphraseCheck(ok and given is not None)
        ok = hmac.compare_digest(stored_hash.encode(), legacy_passphrase_hash(candidate, bot_name).encode())
        if not ok or given is None:
            return PassphraseCheck(False)
        return PassphraseCheck(True, rehash=self.hash(bot_name, given))

    def matches(self, bot_name: str, given: str | None, stored_hash: str | None) -> bool:
        return self.check(bot_name, given, stored_hash).ok


def new_webhook_key(prefix: str = "") -> str:
    """A fresh webhook key: 128 random bits as 32 hex characters, after the prefix."""
    token = secrets.token_hex(16)
    return f"{prefix}_{token}" if prefix else token
