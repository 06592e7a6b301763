"""The one mapping from states, actors and reasons to the words the pages and Discord show."""

from __future__ import annotations

import pytest

from trading.domain.signals import SignalState
from trading.domain.wording import (
    REASON_LIMIT,
    actor_words,
    change_words,
    clean_reason,
    state_tone,
    state_words,
)


@pytest.mark.parametrize(
    ("actor", "words"),
    [
        ("web:bob", "bob"),
        ("api:bob", "bob"),
        ("api:break-glass", "the admin token"),
        ("discord:1234", "Discord member 1234"),
        ("expiry", "the approval timeout"),
        (None, "someone"),
    ],
)
def test_an_actor_reads_as_who_it_is(actor: str | None, words: str) -> None:
    assert actor_words(actor) == words


def test_a_discord_member_reads_by_the_display_name_kept_with_their_decision() -> None:
    assert actor_words("discord:1234", "Zoe Trader") == "Zoe Trader"
    assert actor_words("discord:1234", "  ") == "Discord member 1234"
    assert actor_words("web:bob", "Robert") == "bob"  # a person of the desk goes by their user name


def test_every_state_reads_as_words_without_underscores_and_colour_means_something() -> None:
    for state in SignalState:
        assert "_" not in state_words(state.value)
    assert state_words("pending_approval") == "waiting for approval"
    assert {s.value for s in SignalState if state_tone(s.value) == "bad"} == {"failed", "refused"}
    assert state_tone("executed") == "good" and state_tone("pending_approval") == "waiting"
    assert state_tone("rejected") == "" and state_tone("expired") == ""


@pytest.mark.parametrize(
    ("state", "cause", "words"),
    [
        ("approved", "web:bob", "approved by bob"),
        ("rejected", "api:break-glass", "rejected by the admin token"),
        ("pending_approval", "approve mode", "waiting for approval"),
        ("queued", "approved", "queued to trade after the approval"),
        ("received", "webhook", "received from the alert"),
        ("refused", "risk", "refused by a risk check"),
        ("expired", "expiry", "expired: no decision in time"),
    ],
)
def test_a_change_reads_as_a_sentence(state: str, cause: str, words: str) -> None:
    assert change_words(state, cause) == words


def test_a_typed_reason_loses_control_characters_and_is_capped() -> None:
    assert clean_reason("  too\nlate\x00 \u202eevil\t ") == "too late evil"
    assert clean_reason(" \n\t") is None and clean_reason(None) is None
    assert clean_reason("x" * 5000) == "x" * REASON_LIMIT
