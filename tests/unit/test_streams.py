"""web/streams.py: open event streams capped per person and in all, ended by sign-out."""

from __future__ import annotations

from web.streams import OpenStream, OpenStreams


def test_streams_are_capped_per_person_and_in_all_and_a_release_gives_the_place_back() -> None:
    streams = OpenStreams(per_person=2, total=3)
    a1, a2 = streams.open("person:1", None), streams.open("person:1", "s1")
    assert isinstance(a1, OpenStream) and isinstance(a2, OpenStream)
    assert "per person" in str(streams.open("person:1", None))
    b1 = streams.open("person:2", None)
    assert isinstance(b1, OpenStream)
    assert "open" in str(streams.open("person:3", None)) and streams.count() == 3
    a1.release()
    a1.release()  # twice is once
    assert streams.count("person:1") == 1 and streams.count() == 2
    assert isinstance(streams.open("person:3", None), OpenStream)


def test_signing_out_ends_that_sessions_streams_only() -> None:
    streams = OpenStreams(per_person=10, total=10)
    mine, other, token = (streams.open("person:1", s) for s in ("s1", "s2", None))
    assert isinstance(mine, OpenStream) and isinstance(other, OpenStream) and isinstance(token, OpenStream)
    assert streams.end_session("s1") == 1
    assert mine.ended.is_set() and not other.ended.is_set() and not token.ended.is_set()
    assert streams.end_owner("person:1") == 3
    assert other.ended.is_set() and token.ended.is_set()
