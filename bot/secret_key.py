"""The server's secret key (SIGNALDESK_SECRET_KEY): the pepper of the bots' passphrase hashes.

Set it in every deployment (all processes on one database share it). When it is not set,
one is generated at the first start into a file (mode 0600) in SIGNALDESK_DATA_DIR, or next
to the SQLite database, and read from there afterwards. The key never reaches a log line.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings
from trading.domain.credentials import MIN_SECRET_KEY_BYTES, Passphrases

log = logging.getLogger("signaldesk.secret_key")

KEY_FILE_NAME = "signaldesk.secret_key"


class SecretKeyError(ValueError):
    """The secret key cannot be had; the message says what to set."""


def key_file(settings: Settings) -> Path | None:
    """Where a generated key lives; None for an in-memory SQLite database (nothing outlives
    the process, so neither need the key)."""
    if settings.signaldesk_data_dir:
        return Path(settings.signaldesk_data_dir) / KEY_FILE_NAME
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise SecretKeyError(
            "SIGNALDESK_SECRET_KEY is not set and the database is not a SQLite file: set SIGNALDESK_SECRET_KEY "
            "(the same for every process; e.g. python3 -c 'import secrets; print(secrets.token_hex(32))') "
            "or SIGNALDESK_DATA_DIR (a directory where one is generated and kept)"
        )
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
        return None
    return Path(url.database).parent / KEY_FILE_NAME


def load_secret_key(settings: Settings) -> bytes:
    if settings.signaldesk_secret_key is not None:
        key = settings.signaldesk_secret_key.get_secret_value().encode()
        if len(key) < MIN_SECRET_KEY_BYTES * 2:
            raise SecretKeyError(
                f"SIGNALDESK_SECRET_KEY is too short: use at least {MIN_SECRET_KEY_BYTES * 2} random characters "
                "(e.g. python3 -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return key
    path = key_file(settings)
    if path is None:
        log.warning("SIGNALDESK_SECRET_KEY is not set: using a key for this process only (in-memory database)")
        return secrets.token_hex(32).encode()
    return _read_or_create(path)


def _read_or_create(path: Path) -> bytes:
    if path.exists():
        return _read(path)
    try:
        # Written whole under another name, then linked into place: two processes starting
        # together both end up with the one key that got there first.
        fd, temporary = tempfile.mkstemp(prefix=".secret_key.", dir=path.parent)  # mode 0600
    except OSError as e:
        raise SecretKeyError(f"cannot create the secret key file {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read(path)
        except OSError as e:
            raise SecretKeyError(f"cannot create the secret key file {path}: {e.strerror or e}") from e
    finally:
        os.unlink(temporary)
    log.warning(
        "SIGNALDESK_SECRET_KEY is not set: generated a secret key into %s (mode 0600). Keep that file with "
        "the database and back it up with it: without it no bot passphrase can be verified. Deployments "
        "should set SIGNALDESK_SECRET_KEY instead.",
        path,
    )
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        key = path.read_text(encoding="ascii").strip().encode()
    except (OSError, UnicodeDecodeError) as e:
        raise SecretKeyError(f"cannot read the secret key file {path}: {e}") from e
    if len(key) < MIN_SECRET_KEY_BYTES * 2:
        raise SecretKeyError(
            f"the secret key file {path} holds no key of at least {MIN_SECRET_KEY_BYTES * 2} characters; "
            "restore it from a backup (or, when no bot has a passphrase, delete it for a fresh one)"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the secret key file %s can be read by others than its owner: chmod 600 it", path)
    return key


def passphrases(settings: Settings) -> Passphrases:
    return Passphrases(load_secret_key(settings))
