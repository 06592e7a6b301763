"""The secret key that signs the web desk's session cookies (and derives their CSRF tokens).

SIGNALDESK_SECRET_KEY when set; otherwise a random key kept in SIGNALDESK_SECRET_KEY_FILE,
by default `signaldesk.secret` in the data directory (beside the SQLite database; with
PostgreSQL the working directory, which is the data directory of the container and of the
systemd unit), made at the first start, readable by its owner only. The log says that the file was made
and where; the key itself never appears anywhere but in that file.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

log = logging.getLogger("signaldesk.secret_key")

MIN_LENGTH = 32  # characters of a key given in the setting


FILE_NAME = "signaldesk.secret"


class SecretKeyError(RuntimeError):
    pass


def default_file(database_url: str) -> Path:
    """signaldesk.secret beside the SQLite database file; in the working directory otherwise."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / FILE_NAME
    return Path(FILE_NAME)


def secret_key(setting: SecretStr | None, path: str | Path) -> str:
    """The key: the setting's value, or the file's (made now when it does not exist)."""
    if setting is not None and setting.get_secret_value():
        value = setting.get_secret_value()
        if len(value) < MIN_LENGTH:
            raise SecretKeyError(
                f"SIGNALDESK_SECRET_KEY is too short: use at least {MIN_LENGTH} random characters "
                '(e.g. python3 -c "import secrets; print(secrets.token_urlsafe(48))"), or unset it '
                "to have one made in SIGNALDESK_SECRET_KEY_FILE"
            )
        return value
    file = Path(path)
    try:
        return _read(file)
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: of two processes starting together, one writes and the other reads.
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(file)
    except OSError as e:
        raise SecretKeyError(
            f"cannot create the secret key file {file}: {e.strerror}; set SIGNALDESK_SECRET_KEY"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    log.warning(
        "made a new secret key for web sessions in %s (owner-only); keep it, or set SIGNALDESK_SECRET_KEY", file
    )
    return key


def _read(file: Path) -> str:
    mode = file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the secret key file %s can be read by others than its owner: chmod 600 it", file)
    value = file.read_text(encoding="utf-8").strip()
    if len(value) < MIN_LENGTH:
        raise SecretKeyError(f"the secret key file {file} holds no usable key: delete it to have a new one made")
    return value
