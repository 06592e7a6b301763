"""Hashing of webhook keys and passphrases, so neither is stored in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def key_hash(webhook_key: str) -> str:
    """Webhook keys are long and random, so a plain SHA-256 is enough to look them up by."""
    return hashlib.sha256(webhook_key.encode()).hexdigest()


def key_hint(webhook_key: str) -> str:
    return "****" + webhook_key[-4:]


def passphrase_hash(passphrase: str, salt: str) -> str:
    """Salted with the bot name so equal passphrases on two bots hash apart."""
    return hmac.new(salt.encode(), passphrase.encode(), hashlib.sha256).hexdigest()


def passphrase_matches(given: str | None, stored_hash: str | None, salt: str) -> bool:
    if stored_hash is None:
        return True
    if given is None:
        # Compare anyway so a missing passphrase takes as long as a wrong one.
        hmac.compare_digest(stored_hash, passphrase_hash("", salt))
        return False
    return hmac.compare_digest(stored_hash, passphrase_hash(given, salt))


def new_webhook_key(prefix: str = "") -> str:
    token = secrets.token_urlsafe(24).replace("-", "").replace("_", "")[:24]
    return f"{prefix}_{token}" if prefix else token
