"""States, actors and reasons in the words a trader reads: the one mapping the web desk and
Discord both use, so a card says the same thing wherever it is read.

Colour carries meaning only: a tone is "bad" (refused or failed), "waiting" (something or
someone still has to act) or "good" (done as asked); everything else has none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# How long a reason typed by a person may be (a reject's, a halt's): a sentence, not a file.
REASON_LIMIT = 500

_STATE_WORDS = {
    "received": "received",
    "pending_approval": "waiting for approval",
    "approved": "approved",
    "queued": "queued to trade",
    "executing": "sending orders",
    "executed": "executed",
    "failed": "failed",
    "rejected": "rejected",
    "expired": "expired",
    "canceled": "cancelled",
    "ignored": "nothing to do",
    "refused": "refused",
}

_TONES = {
    "failed": "bad",
    "refused": "bad",
    "pending_approval": "waiting",
    "received": "waiting",
    "approved": "waiting",
    "queued": "waiting",
    "executing": "waiting",
    "executed": "good",
}

# What the desk's own workers are called, as the cause of a change or the author of an act.
_SYSTEM_ACTORS = {
    "webhook": "the alert",
    "engine": "the engine",
    "risk": "a risk check",
    "expiry": "the approval timeout",
    "monitor": "the stop and target monitor",
    "cli": "the command line",
    "approve mode": "the bot's approve mode",
    "auto mode": "the bot's auto mode",
    "approved": "the approval",
    "api:break-glass": "the admin token",
    "api": "the API",
}
_PERSON = re.compile(r"^(?:web|api):(?P<name>[a-z0-9][a-z0-9_.-]{0,63})$")
_DISCORD = re.compile(r"^discord:(?P<id>[0-9]+)$")


def state_words(state: str) -> str:
    """A signal's state as a reader says it: "waiting for approval", not "pending_approval"."""
    return _STATE_WORDS.get(state, state.replace("_", " "))


def state_tone(state: str) -> str:
    """The colour a state is drawn in: "bad", "waiting", "good", or "" (no colour)."""
    return _TONES.get(state, "")


def actor_words(actor_id: str | None, name: str | None = None) -> str:
    """Who acted, by the name a reader knows: "bob" for web:bob or api:bob, "the admin token"
    for the break-glass token, a Discord member by `name` (their display name, kept with the
    decision) or else as "Discord member 1234" (Discord itself shows a mention instead);
    anything else as it is."""
    if not actor_id:
        return "someone"
    if actor_id in _SYSTEM_ACTORS:
        return _SYSTEM_ACTORS[actor_id]
    if person := _PERSON.match(actor_id):
        return person["name"]
    if member := _DISCORD.match(actor_id):
        return name.strip() if name and name.strip() else f"Discord member {member['id']}"
    return actor_id


def is_person(actor_id: str | None) -> bool:
    """Whether the actor is a person (signed in, with a token, or on Discord), not a worker."""
    return bool(actor_id) and actor_id not in _SYSTEM_ACTORS and ":" in str(actor_id)


def change_words(state: str, cause: str | None, name: Callable[[str], str] = actor_words) -> str:
    """One step of a signal's life as a sentence: "approved by bob", "waiting for approval",
    "queued to trade after the approval", "refused by a risk check". `name`: how a person
    is named (Discord mentions its members)."""
    words = state_words(state)
    if not cause:
        return words
    if is_person(cause) or cause in ("risk", "api:break-glass", "monitor", "cli"):
        return f"{words} by {name(cause)}"
    if cause == "approved":
        return f"{words} after the approval"
    if cause == "auto mode":
        return f"{words} (the bot trades without approval)"
    if cause == "approve mode":
        return words
    if cause == "webhook":
        return f"{words} from the alert"
    if cause == "expiry":
        return f"{words}: no decision in time"
    return words


def clean_reason(text: str | None, limit: int = REASON_LIMIT) -> str | None:
    """A reason a person typed, safe to store and show: control and invisible formatting
    characters (a line break, a bidi override) become spaces, runs of space one, at most
    `limit` characters; None when nothing is left."""
    if text is None:
        return None
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    cleaned = " ".join(kept.split())[:limit].strip()
    return cleaned or None
