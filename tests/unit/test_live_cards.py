"""Approval cards kept live on Discord (issue 29, item 5): the card shows the quote's drift
in a trader's words and the time left, and a live pass edits only the cards whose text
changed, a bounded number a pass, the ones shown longest ago first."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from bot.discord.cards import approval_embed
from bot.discord.sink import LIVE_EDITS_PER_PASS, DiscordSink
from tests.e2e.fake_desk import make_card
from trading.domain.views import ApprovalCard


def test_a_pending_card_shows_the_drift_in_words_and_the_time_left_to_the_minute() -> None:
    card = make_card(17, drift_text="+19.5 (+0.04%) above the alert", time_left=timedelta(minutes=4, seconds=59))
    body = approval_embed(card).description or ""
    assert "Quote now    53,230.0, +19.5 (+0.04%) above the alert" in body
    assert body.splitlines()[0].endswith(" · ⏱️ 4m left")  # beside the expiry, outside the code block
    decided = replace(card, state="executed")  # a decided card has nothing live
    assert "⏱️" not in (approval_embed(decided).description or "")


class _Message:
    def __init__(self, edits: list[int], mid: int) -> None:
        self.edits, self.mid = edits, mid

    async def edit(self, **_: Any) -> None:
        self.edits.append(self.mid)


class _Client:
    def __init__(self) -> None:
        self.edits: list[int] = []

    def get_partial_messageable(self, _channel: int) -> Any:
        return SimpleNamespace(get_partial_message=lambda mid: _Message(self.edits, mid))


def _sink(cards: list[ApprovalCard]) -> tuple[DiscordSink, _Client]:
    client = _Client()

    async def pending_cards() -> list[ApprovalCard]:
        return list(cards)

    settings = SimpleNamespace(
        discord_approvals_channel_id=1,
        discord_log_channel_id=None,
        discord_error_channel_id=None,
        discord_error_mention_role_id=None,
        discord_approval_mention_role_id=None,
        approval_card_refresh_seconds=5.0,
    )
    use_cases = SimpleNamespace(queries=SimpleNamespace(pending_cards=pending_cards))
    sink = DiscordSink(client, use_cases, settings)  # type: ignore[arg-type]
    for card in cards:
        sink.cards[card.signal_id] = (1, 1000 + card.signal_id)
    return sink, client


async def test_a_live_pass_edits_changed_cards_only_a_few_at_a_time_oldest_shown_first() -> None:
    cards = [
        make_card(i, drift_text="+19.5 (+0.04%) above the alert", time_left=timedelta(minutes=9)) for i in range(1, 7)
    ]
    sink, client = _sink(cards)
    assert await sink.refresh_live() == LIVE_EDITS_PER_PASS == 4  # none shown yet: the first four
    assert await sink.refresh_live() == 2  # then the other two; the four already shown are unchanged
    assert await sink.refresh_live() == 0  # nothing changed: no edit
    assert client.edits == [1001, 1002, 1003, 1004, 1005, 1006]

    cards[4] = replace(cards[4], quote=Decimal("53300"), drift_text="+89.5 (+0.17%) above the alert")
    assert await sink.refresh_live() == 1
    assert client.edits[-1] == 1005
    # A minute later every countdown changed: the cards shown longest ago go first.
    cards[:] = [replace(c, time_left=timedelta(minutes=8)) for c in cards]
    assert await sink.refresh_live() == 4
    assert client.edits[-4:] == [1001, 1002, 1003, 1004]
    assert await sink.refresh_live() == 2
    assert client.edits[-2:] == [1006, 1005]

    del cards[:5]  # decided: no longer pending, forgotten
    assert await sink.refresh_live() == 0
    assert set(sink._shown) == {6}
