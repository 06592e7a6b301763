"""The first-run banner: what a new user reads before sending a first alert."""

from __future__ import annotations

from bot.demo import next_steps
from bot.settings import Settings
from bot.tradingview import Secrets
from tests.e2e.fake_desk import make_bot


def test_the_banner_says_a_repeat_answers_duplicate_and_why() -> None:
    settings = Settings(_env_file=None, webhook_dedupe_minutes=15)  # type: ignore[call-arg]
    text = next_steps(settings, [make_bot()], {"SA40_RSI_Bot": Secrets()}, [])
    assert "# a test alert for SA40_RSI_Bot" in text
    assert (
        'Sent again within 15 minutes, the same line answers "duplicate" (same body within 15 minutes) '
        "and makes nothing new: change the price to send another."
    ) in text
