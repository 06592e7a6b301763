"""Signature vectors: expected values computed with hmac on literal strings, independent of brokers/."""

from __future__ import annotations

import hashlib
import hmac

from brokers.herenya.signing import key_hint, prehash, sign, signature_matches


def _hand(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_get_with_query_signs_timestamp_method_path_and_query() -> None:
    expected = _hand("test-secret", "1700000000000GET/v1/accounts/A1/orders?client_order_id=sd-17-1")
    assert sign("test-secret", 1700000000000, "GET", "/v1/accounts/A1/orders?client_order_id=sd-17-1", b"") == expected


def test_post_signs_the_exact_body_bytes() -> None:
    body = '{"client_order_id":"sd-17-1","symbol":"SA40","side":"BUY","type":"MARKET","quantity":2}'
    expected = _hand("test-secret", "1700000000123POST/v1/accounts/A1/orders" + body)
    assert sign("test-secret", "1700000000123", "POST", "/v1/accounts/A1/orders", body.encode()) == expected
    # One byte of whitespace more is another signature: the body is signed as sent, not as meant.
    assert sign("test-secret", "1700000000123", "POST", "/v1/accounts/A1/orders", body.encode() + b" ") != expected


def test_known_vector() -> None:
    # Computed once with: python -c "import hmac,hashlib;print(hmac.new(b'k',b'1GET/v1/time',hashlib.sha256).hexdigest())"
    assert sign("k", 1, "GET", "/v1/time", b"") == "561a684c4788ff53795b26fb773f52e985bdabdca4257a0ea72b7a12646313f2"


def test_method_is_upper_cased_and_path_bytes_accepted() -> None:
    assert prehash(5, "delete", b"/v1/accounts/A1/orders/H-1", b"") == b"5DELETE/v1/accounts/A1/orders/H-1"
    assert sign("s", 5, "delete", b"/x", b"") == _hand("s", "5DELETE/x")


def test_secret_is_utf8() -> None:
    assert (
        sign("sécret", 1, "GET", "/v1/x", b"") == hmac.new("sécret".encode(), b"1GET/v1/x", hashlib.sha256).hexdigest()
    )


def test_signature_is_lowercase_hex_of_64_chars() -> None:
    s = sign("a", 1, "GET", "/", b"")
    assert len(s) == 64 and s == s.lower() and int(s, 16) >= 0


def test_signature_matches_compares_exactly() -> None:
    s = sign("a", 1, "GET", "/", b"")
    assert signature_matches(s, s)
    assert not signature_matches(s, s.upper())
    assert not signature_matches(s, s[:-1])
    assert not signature_matches(s, "é" * 64)


def test_key_hint_shows_at_most_the_last_four_characters() -> None:
    assert key_hint("abcdefghijkl") == "****ijkl"
    assert key_hint("short") == "****"
