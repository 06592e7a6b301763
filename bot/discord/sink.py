"""DiscordSink: the Notifier that turns events into approval cards and channel lines.

publish() only enqueues, so trading never waits on Discord and a burst never drops.
Background tasks do the sending:
- the card task posts a card on ApprovalRequested (once: an enforced nonce lets Discord
  drop a repeat that a retried request would otherwise post twice) and, for any later
  event about a signal with a card, re-renders the card from the Desk and edits it in
  place; refreshes of one signal asked for within `card_settle` seconds make one edit;
- every `APPROVAL_CARD_REFRESH_SECONDS` the same task re-renders the pending cards (the
  quote now, its drift, the time left) and edits those whose text changed, at most
  `LIVE_EDITS_PER_PASS` a pass (Discord limits edits per channel), the ones shown longest
  ago first; in the card task, so a live edit never lands after a decision's edit;
- one task per channel gathers lines for `batch_window` seconds and sends them in as
  few messages as Discord's 2000-character limit allows.
Sending retries rate limits (honouring retry_after) and server errors until it succeeds;
a refusal that cannot succeed on retry (400/403/404) is logged with what was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.discord.cards import PENDING, approval_embed, event_line, expired_line, new_card_text, reminder_text
from bot.discord.chart import FILENAME, CardChart, with_chart
from bot.discord.views import approval_view, repair_view
from trading.domain.events import (
    ApprovalDecided,
    ApprovalReminder,
    ApprovalRequested,
    Event,
    PositionMismatch,
    Severity,
)
from trading.domain.views import ApprovalCard
from trading.services.backoff import backoff_delay
from trading.services.use_cases import UseCases

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("signaldesk.discord.sink")

MESSAGE_LIMIT = 2000
MAX_BACKOFF = 30.0
_NO_CARD_MEMORY = 4096  # signals known to have no card, so their events skip the look-up
# Card edits a live pass makes at most: Discord allows about 5 edits per 5 s in a channel,
# and a decision's own edit must not wait behind a long pass.
LIVE_EDITS_PER_PASS = 4


class DiscordSink:
    def __init__(
        self,
        client: discord.Client,
        use_cases: UseCases,
        settings: Settings,
        *,
        batch_window: float = 1.0,
        card_settle: float = 0.25,
        chart: Callable[[ApprovalCard], Awaitable[CardChart]] | None = None,
    ) -> None:
        """`chart`: a new card's chart of the stored candles (None: cards carry no chart)."""
        self.client = client
        self.use_cases = use_cases
        self.approvals_channel_id = settings.discord_approvals_channel_id
        self.log_channel_id = settings.discord_log_channel_id
        self.error_channel_id = settings.discord_error_channel_id
        self.error_role_id = settings.discord_error_mention_role_id
        self.approval_role_id = settings.discord_approval_mention_role_id
        self.batch_window = batch_window
        self.card_settle = card_settle
        self.cards: dict[int, tuple[int, int]] = {}  # signal id -> (channel id, message id)
        self._chart = chart
        self._charts: dict[int, CardChart] = {}  # what each card posted here shows of its chart (no PNG)
        self._no_card: OrderedDict[int, None] = OrderedDict()
        self._card_queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._refresh_pending: set[int] = set()
        self.live_interval = settings.approval_card_refresh_seconds
        self._live_queued = False
        self._shown: dict[int, str] = {}  # pending signal id -> the card text Discord shows now
        self._lines: dict[int, list[str]] = {}
        self._line_ready: dict[int, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._mismatch_tasks: set[asyncio.Task[None]] = set()
        self._busy = 0  # items taken from a queue and not yet finished
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ the Notifier port

    async def publish(self, event: Event) -> None:
        """Enqueue and return; never raises into trading."""
        try:
            self._enqueue(event)
        except Exception:
            log.exception("could not enqueue %s", event.kind)

    def _enqueue(self, event: Event) -> None:
        self._ensure_started()
        if isinstance(event, ApprovalRequested) and event.signal_id is not None:
            self._card_queue.put_nowait(("post", event.signal_id))
            self._mark_busy()
        elif event.signal_id is not None:
            self.refresh_card(event.signal_id)
            if isinstance(event, ApprovalReminder):
                self._card_queue.put_nowait(("remind", event.signal_id))
                self._mark_busy()
            elif isinstance(event, ApprovalDecided) and event.decision == "expired":
                self._card_queue.put_nowait(("expired", event.signal_id))
                self._mark_busy()
        channel = self.error_channel_id if event.severity is Severity.ERROR else self.log_channel_id
        if isinstance(event, PositionMismatch) and event.bot_name and channel is not None:
            # Its own message, with the Adopt / Flatten buttons that repair it.
            self._mark_busy()
            task = asyncio.create_task(self._post_mismatch(channel, event), name="discord-mismatch")
            self._mismatch_tasks.add(task)
            task.add_done_callback(self._mismatch_tasks.discard)
            return
        if channel is not None:
            self._lines.setdefault(channel, []).append(event_line(event))
            self._mark_busy()
            self._channel_event(channel).set()

    def refresh_card(self, signal_id: int) -> None:
        """Re-render the signal's card from the Desk, if it has one, after `card_settle`
        seconds: the events of one decision (decided, order placed, filled) then make one
        edit instead of three, which spares Discord's per-channel edit limit and keeps the
        card's reads of the Desk out of the way of the order being sent."""
        self._ensure_started()
        if signal_id in self._refresh_pending:
            return
        self._refresh_pending.add(signal_id)
        self._mark_busy()
        asyncio.get_running_loop().call_later(self.card_settle, self._card_queue.put_nowait, ("refresh", signal_id))

    # ------------------------------------------------------------------ life

    def _ensure_started(self) -> None:
        # At the first event: the desk's start notice (or, taking the lead, LeaderChanged),
        # so the cards pending at start-up are kept live too.
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._card_loop(), name="discord-cards"))
            if self.live_interval > 0:
                self._tasks.append(asyncio.create_task(self._live_timer(), name="discord-live-cards"))

    def _channel_event(self, channel_id: int) -> asyncio.Event:
        if channel_id not in self._line_ready:
            self._line_ready[channel_id] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._channel_loop(channel_id), name=f"discord-lines-{channel_id}"))
        return self._line_ready[channel_id]

    def _mark_busy(self) -> None:
        self._busy += 1
        self._idle.clear()

    def _mark_done(self, n: int = 1) -> None:
        self._busy -= n
        if self._busy <= 0:
            self._busy = 0
            self._idle.set()

    async def drain(self, within: float | None = None) -> bool:
        """Wait until everything published so far has been sent; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def aclose(self, within: float = 5.0) -> None:
        """Send what is queued (for up to `within` seconds), then stop."""
        if not await self.drain(within):
            left = sum(len(v) for v in self._lines.values()) + self._card_queue.qsize()
            log.warning("closing the Discord sink with %d items unsent", left)
        tasks = [*self._tasks, *self._mismatch_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # ------------------------------------------------------------------ cards

    async def _card_loop(self) -> None:
        await self.client.wait_until_ready()
        while True:
            op, signal_id = await self._card_queue.get()
            try:
                if op == "post":
                    await self._post_card(signal_id)
                elif op in ("remind", "expired"):
                    await self._post_under_card(op, signal_id)
                elif op == "live":
                    self._live_queued = False
                    await self.refresh_live()
                else:
                    self._refresh_pending.discard(signal_id)
                    await self._refresh(signal_id)
            except Exception:
                log.exception("card %s for signal #%s failed", op, signal_id)
            finally:
                self._mark_done()

    async def _card_message(self, signal_id: int) -> tuple[int, int] | None:
        if signal_id in self.cards:
            return self.cards[signal_id]
        if signal_id in self._no_card:
            return None
        # Not posted by this process (a restart since): the Desk stored where it went.
        view = await self.use_cases.queries.signal_view(signal_id)
        approval = view.approval if view is not None else None
        if approval is not None and approval.channel_id and approval.message_id:
            self.cards[signal_id] = (approval.channel_id, approval.message_id)
            return self.cards[signal_id]
        return None

    async def _post_card(self, signal_id: int) -> None:
        self._no_card.pop(signal_id, None)
        if await self._card_message(signal_id) is not None:
            await self._refresh(signal_id)  # a repeated ApprovalRequested: the card exists
            return
        if self.approvals_channel_id is None:
            log.warning("signal #%s awaits approval but DISCORD_APPROVALS_CHANNEL_ID is not set", signal_id)
            return
        card = await self.use_cases.queries.approval_card(signal_id)
        if card is None:
            log.error("signal #%s awaits approval but the Desk has no card for it", signal_id)
            return
        if card.card_of is not None:
            self.refresh_card(card.card_of)  # a leg of an alert on several accounts: its one card
            return
        channel = self.client.get_partial_messageable(self.approvals_channel_id)
        view = approval_view(card)  # None when already decided: no buttons

        # The approver role is called by the card's text (a mention inside an embed pings no
        # one); only that role may be pinged, whatever the card's text holds.
        content = new_card_text(self.approval_role_id)
        mentions = self._approver_mention()
        chart = await self._card_chart(card)

        def send() -> Awaitable[discord.Message]:
            embed = with_chart(approval_embed(card), chart)
            nonce = f"sdcard{signal_id}"
            # A new File each try: a retried send reads the PNG again.
            files = [discord.File(io.BytesIO(chart.png), filename=FILENAME)] if chart and chart.png else []
            if view is None:
                return channel.send(content, embed=embed, files=files, nonce=nonce, allowed_mentions=mentions)
            return channel.send(content, embed=embed, view=view, files=files, nonce=nonce, allowed_mentions=mentions)

        message = await self._send(f"approval card for signal #{signal_id}", send)
        if message is None:
            return
        self.cards[signal_id] = (channel.id, message.id)
        self._remember_shown(card)
        if chart is not None:
            self._charts[signal_id] = CardChart(chart.candles, drawn=chart.drawn)
        try:
            await self.use_cases.decisions.record_card_message(signal_id, channel.id, message.id)
        except Exception:
            log.exception("could not record the card message of signal #%s", signal_id)

    async def _refresh(self, signal_id: int) -> None:
        where = await self._card_message(signal_id)
        if (
            where is None
            and signal_id not in self._no_card
            and (owner := await self.use_cases.queries.card_owner(signal_id)) != signal_id
        ):
            await self._refresh(owner)  # a leg shown on its alert's first leg's card
            return
        if where is None:
            self._remember_no_card(signal_id)
            return
        card = await self.use_cases.queries.approval_card(signal_id)
        if card is None:
            return
        await self._edit_card(where, card)

    def _remember_no_card(self, signal_id: int) -> None:
        self._no_card[signal_id] = None
        while len(self._no_card) > _NO_CARD_MEMORY:
            self._no_card.popitem(last=False)

    async def _edit_card(self, where: tuple[int, int], card: ApprovalCard) -> None:
        channel_id, message_id = where
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        signal_id = card.signal_id
        await self._send(
            f"card edit for signal #{signal_id}",
            # The attachment stays with the message; the embed shows it again.
            lambda: message.edit(
                embed=with_chart(approval_embed(card), self._charts.get(signal_id)), view=approval_view(card)
            ),
        )
        # Even when Discord refused it for good (a deleted card): tried again only once the text changes.
        self._remember_shown(card)

    def _remember_shown(self, card: ApprovalCard) -> None:
        if card.state == PENDING:
            self._shown[card.signal_id] = _card_text(card)
        else:
            self._shown.pop(card.signal_id, None)

    # ------------------------------------------------------------------ live cards

    async def _live_timer(self) -> None:
        """Every `live_interval` seconds, a live pass in the card task (one queued at most)."""
        await self.client.wait_until_ready()
        while True:
            await asyncio.sleep(self.live_interval)
            if not self._live_queued:
                self._live_queued = True
                self._mark_busy()
                self._card_queue.put_nowait(("live", 0))

    async def refresh_live(self) -> int:
        """Edit the pending cards whose text changed since Discord last showed it (the quote,
        its drift, the countdown), at most LIVE_EDITS_PER_PASS, the ones shown longest ago
        first; the number of edits made."""
        cards = await self.use_cases.queries.pending_cards()
        pending = {c.signal_id for c in cards}
        for gone in [i for i in self._shown if i not in pending]:
            del self._shown[gone]
        # Dicts keep insertion order: re-inserting on each edit puts the card shown longest ago first.
        order = {i: n for n, i in enumerate(self._shown)}
        edits = 0
        for card in sorted(cards, key=lambda c: order.get(c.signal_id, -1)):
            if edits >= LIVE_EDITS_PER_PASS:
                break
            if card.signal_id in self._refresh_pending or self._shown.get(card.signal_id) == _card_text(card):
                continue  # an event's edit is on its way, or nothing a reader sees changed
            where = await self._card_message(card.signal_id)
            if where is None:
                self._remember_no_card(card.signal_id)  # not read again each pass
                continue
            self._shown.pop(card.signal_id, None)
            await self._edit_card(where, card)
            edits += 1
        return edits

    async def _card_chart(self, card: ApprovalCard) -> CardChart | None:
        """The new card's chart; a failure costs the chart, never the card."""
        if self._chart is None:
            return None
        try:
            return await self._chart(card)
        except Exception:
            log.exception("no chart for the card of signal #%s", card.signal_id)
            return None

    def _approver_mention(self) -> discord.AllowedMentions:
        if self.approval_role_id is None:
            return discord.AllowedMentions.none()
        return discord.AllowedMentions(
            everyone=False, users=False, roles=[discord.Object(self.approval_role_id)], replied_user=False
        )

    async def _post_under_card(self, op: str, signal_id: int) -> None:
        """A reminder (once, half way to expiry) or an expiry line, in the approvals channel
        as a reply to the card, so it lands at the bottom of the channel and leads to it."""
        if self.approvals_channel_id is None:
            return
        card = await self.use_cases.queries.approval_card(signal_id)
        if card is None:
            return
        if card.card_of is not None:
            return  # a leg on its alert's one card: that card's own reminder and expiry speak for it
        if op == "remind":
            if card.state != PENDING:
                return  # decided meanwhile: nobody needs calling
            content, mentions = reminder_text(card, self.approval_role_id), self._approver_mention()
        else:
            content, mentions = expired_line(card), discord.AllowedMentions.none()
        where = await self._card_message(signal_id)
        channel_id = where[0] if where else self.approvals_channel_id
        channel = self.client.get_partial_messageable(channel_id)
        reference = (
            discord.MessageReference(message_id=where[1], channel_id=where[0], fail_if_not_exists=False)
            if where
            else None
        )
        nonce = f"sd{op}{signal_id}"[:25]

        def send() -> Awaitable[discord.Message]:
            if reference is None:
                return channel.send(content, nonce=nonce, allowed_mentions=mentions)
            return channel.send(content, reference=reference, nonce=nonce, allowed_mentions=mentions)

        await self._send(f"{op} message for signal #{signal_id}", send)

    # ------------------------------------------------------------------ mismatches

    async def _post_mismatch(self, channel_id: int, event: PositionMismatch) -> None:
        try:
            await self.client.wait_until_ready()
            channel = self.client.get_partial_messageable(channel_id)
            prefix = f"<@&{self.error_role_id}>\n" if self._mention_role(channel_id) else ""
            text = (
                prefix + event_line(event) + "\nRepair it: **Adopt** the broker's position, or **Flatten** the symbol."
            )
            assert event.bot_name is not None
            view = repair_view(event.bot_name)
            await self._send(
                f"mismatch message for {event.bot_name}",
                lambda: channel.send(
                    content=text[:MESSAGE_LIMIT], view=view, allowed_mentions=self._mention(channel_id)
                ),
            )
        except Exception:
            log.exception("could not post the mismatch message for %s", event.bot_name)
        finally:
            self._mark_done()

    # ------------------------------------------------------------------ channel lines

    async def _channel_loop(self, channel_id: int) -> None:
        await self.client.wait_until_ready()
        ready = self._line_ready[channel_id]
        channel = self.client.get_partial_messageable(channel_id)
        while True:
            await ready.wait()
            await asyncio.sleep(self.batch_window)  # let the burst gather
            ready.clear()
            lines = self._lines.pop(channel_id, [])
            try:
                for chunk in self._chunks(channel_id, lines):
                    mention = self._mention(channel_id)
                    await self._send(
                        f"{len(lines)} lines to channel {channel_id}",
                        functools.partial(channel.send, content=chunk, allowed_mentions=mention),
                    )
            finally:
                self._mark_done(len(lines))

    def _chunks(self, channel_id: int, lines: list[str]) -> list[str]:
        prefix = f"<@&{self.error_role_id}>\n" if self._mention_role(channel_id) else ""
        room = MESSAGE_LIMIT - len(prefix)
        chunks: list[str] = []
        current = ""
        for line in lines:
            if len(line) > room:
                line = line[: room - 1] + "…"
            if current and len(current) + 1 + len(line) > room:
                chunks.append(prefix + current)
                current = ""
            current = f"{current}\n{line}" if current else line
        if current:
            chunks.append(prefix + current)
        return chunks

    def _mention_role(self, channel_id: int) -> bool:
        return self.error_role_id is not None and channel_id == self.error_channel_id

    def _mention(self, channel_id: int) -> discord.AllowedMentions:
        # Event text can carry alert text; only our own role mention may ping anyone.
        if self._mention_role(channel_id):
            return discord.AllowedMentions(everyone=False, users=False, roles=[discord.Object(self.error_role_id or 0)])
        return discord.AllowedMentions.none()

    # ------------------------------------------------------------------ sending

    async def _send(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run one Discord call until it succeeds or fails for good; None when it fails."""
        failures = 0
        while True:
            try:
                return await call()
            except discord.RateLimited as e:
                failures += 1
                wait = e.retry_after
            except discord.HTTPException as e:
                failures += 1
                delay = backoff_delay(failures, first=0.5, cap=MAX_BACKOFF)
                if e.status == 429:
                    wait = _retry_after(e) or delay
                elif e.status >= 500:
                    wait = delay
                else:
                    log.error("Discord refused the %s (%s %s): %s", what, e.status, e.code, e.text)
                    return None
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                failures += 1
                wait = backoff_delay(failures, first=0.5, cap=MAX_BACKOFF)
                log.info("Discord unreachable for the %s: %s", what, e)
            log.warning("retrying the %s in %.2f s", what, wait)
            await asyncio.sleep(wait + random.uniform(0, 0.05))


def _card_text(card: ApprovalCard) -> str:
    """What a reader sees of a card's text: a card is edited only when this changed."""
    embed = approval_embed(card)
    return f"{embed.title}\n{embed.description}"


def _retry_after(e: discord.HTTPException) -> float | None:
    headers = getattr(e.response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
