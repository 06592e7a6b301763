"""Herenya request signing: HMAC-SHA256 over timestamp + METHOD + path_and_query + body.

Shared by the client (to sign) and the simulator (to verify), and checked in the tests
against HMACs computed by hand on literal strings.
"""

from __future__ import annotations

import hashlib
import hmac


def prehash(timestamp_ms: int | str, method: str, path_and_query: str | bytes, body: bytes) -> bytes:
    """The bytes signed: concatenated with nothing between, `path_and_query` exactly as on
    the request line, `body` exactly as sent (b"" when none)."""
    path = path_and_query if isinstance(path_and_query, bytes) else path_and_query.encode("utf-8")
    return str(timestamp_ms).encode("ascii") + method.upper().encode("ascii") + path + body


def sign(secret: str, timestamp_ms: int | str, method: str, path_and_query: str | bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256, keyed by the API secret as UTF-8."""
    message = prehash(timestamp_ms, method, path_and_query, body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, so the answer time does not leak how much matched."""
    return hmac.compare_digest(expected.encode("ascii", "replace"), given.encode("ascii", "replace"))


def key_hint(api_key: str) -> str:
    """What of a key may be shown: its last 4 characters at most."""
    return "****" + api_key[-4:] if len(api_key) > 8 else "****"
