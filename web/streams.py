"""The open event streams (GET /api/events/stream) of this process: capped, and ended with
the session or token they were opened with.

A stream holds a connection and a subscriber queue for as long as the page is open, so they
are capped per person and in all (docs/web.md, "Event streams"). A stream belongs to its
person and, when a cookie opened it, to that browser session: signing out ends the session's
streams at once. What another process ends (`signaldesk users disable`, `revoke-tokens`,
`password`) the stream finds out at its next check of its credential, at least every
keep-alive (web/api.py).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter


class OpenStream:
    """One open stream's slot; `ended` is set when its session or person is signed out."""

    def __init__(self, streams: OpenStreams, owner: str, session: str | None) -> None:
        self.owner = owner
        self.session = session
        self.ended = asyncio.Event()
        self._streams = streams
        self._released = False

    def release(self) -> None:
        """Give the slot back; safe to call more than once."""
        if not self._released:
            self._released = True
            self._streams.give_back(self)


class OpenStreams:
    def __init__(self, per_person: int, total: int) -> None:
        self.per_person = per_person
        self.total = total
        self._open: set[OpenStream] = set()
        self._per_owner: Counter[str] = Counter()

    def open(self, owner: str, session: str | None) -> OpenStream | str:
        """A slot for a new stream of `owner` (a person, or the break-glass token), opened by
        the browser session `session` (its token hash) or by a token (None); or why not."""
        if self._per_owner[owner] >= self.per_person:
            return f"at most {self.per_person} event streams per person are open at once: close a tab"
        if len(self._open) >= self.total:
            return f"the desk has its {self.total} event streams open: try again later"
        stream = OpenStream(self, owner, session)
        self._open.add(stream)
        self._per_owner[owner] += 1
        return stream

    def count(self, owner: str | None = None) -> int:
        return len(self._open) if owner is None else self._per_owner[owner]

    def end_session(self, session: str) -> int:
        """Ends the streams this browser session opened (it signed out); how many."""
        return self._end([s for s in self._open if s.session == session])

    def end_owner(self, owner: str) -> int:
        """Ends every stream of this person (disabled, tokens revoked); how many."""
        return self._end([s for s in self._open if s.owner == owner])

    def _end(self, streams: list[OpenStream]) -> int:
        for stream in streams:
            stream.ended.set()
        return len(streams)

    def give_back(self, stream: OpenStream) -> None:
        """The stream's slot is free again (`OpenStream.release` calls this, once)."""
        if stream in self._open:
            self._open.discard(stream)
            self._per_owner[stream.owner] -= 1
            if self._per_owner[stream.owner] <= 0:
                del self._per_owner[stream.owner]


def release_when_collected(holder: object, stream: OpenStream) -> None:
    """Also give the slot back when `holder` (the response body) is dropped unread: a client
    that hangs up before the body starts never runs the body's own clean-up."""
    weakref.finalize(holder, stream.release)
