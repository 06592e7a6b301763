"""The server secret key the tests hash passphrases with (never a real one)."""

from trading.domain.credentials import Passphrases

TEST_SECRET_KEY = b"signaldesk-tests-secret-key-0123456789"
TEST_PASSPHRASES = Passphrases(TEST_SECRET_KEY)
