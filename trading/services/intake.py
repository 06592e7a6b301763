"""The webhook intake use case: one alert request in, one stored signal (or a reasoned refusal) out.

The signal is committed before the answer is given, so an "accepted" answer means the
signal survives a crash; execution starts later from the stored signals. Every request,
whatever its outcome, leaves one webhook_logs row, with the passphrase removed from the body.
Requests that arrive together are stored together, in one transaction (see Intake).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from trading.domain import quantities
from trading.domain.accounts import BUILT_IN
from trading.domain.alerts import AlertError, parse_alert, redact_body
from trading.domain.credentials import Passphrases, key_hash
from trading.domain.legs import NotTheBotsAccount, legs_of
from trading.domain.records import Bot, DuplicateProbe, NewSignal, WebhookLogEntry
from trading.domain.signals import AlertShape, Signal, SignalState
from trading.domain.values import Mode
from trading.services.alerts_first import AlertsFirst
from trading.services.ports import Clock, StorageStatus, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("signaldesk.intake")

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REFUSED = "refused"

UNAUTHORIZED_CODE = "unauthorized"
# Refusals that must not tell which bot a key belongs to.
UNAUTHORIZED_CODES = frozenset({UNAUTHORIZED_CODE, "bad_signature"})
# One answer for an unknown key and a wrong or missing passphrase, so keys cannot be probed.
UNAUTHORIZED_MESSAGE = "unknown webhook key or wrong passphrase"

# A request for no known bot keeps only this much of its body in the webhook log: enough to
# see what was sent, too little for the log to be anyone's free disk.
UNKNOWN_KEY_BODY_BYTES = 256

SIGNATURE_TOLERANCE = timedelta(seconds=300)
# A sender's clock may run a little ahead of ours; further than this and its "time" is not
# to be trusted to measure the alert's age (a far-future time would never grow old).
FUTURE_TOLERANCE = timedelta(seconds=60)

# Compared against when the key is unknown, so that path does the same hashing work as a
# wrong passphrase and its timing does not tell the two apart.
_DUMMY_BOT = "no-such-bot"


@dataclass(frozen=True)
class AlertRequest:
    webhook_key: str
    body: bytes
    content_type: str | None
    client_ip: str
    received_at: datetime  # timezone-aware UTC
    signature: str | None = None  # X-Signature: "sha256=<hex>"
    signature_timestamp: str | None = None  # X-Signature-Timestamp: unix seconds
    # The refusal (code, message) that replaces this request's own when it does not verify:
    # set by the front door when the sender is over a limit of failing requests. Decided
    # here, after verification, so that a request whose key and passphrase (and signature)
    # verify is never refused for other requests' failures, and its log row tells the
    # answer actually given.
    unverified_refusal: tuple[str, str] | None = None


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # accepted | duplicate | refused
    code: str | None  # the refusal's code (None when accepted); the front door maps it to its answer
    message: str
    signal_id: int | None = None
    mode: Mode | None = None
    bot_name: str | None = None
    # Set when the webhook_logs row of a refusal could not be written; the answer stands,
    # and the front-end reports the failure in its own log.
    log_error: str | None = None
    # Whether the request proved it is the bot's: known key, right passphrase, a good
    # signature when the bot requires one. Failure limits count only the others.
    verified: bool = False
    # Why a duplicate is one: 'same id "X"' or 'same body within 15 minutes'.
    duplicate_reason: str | None = None


class StorageDown(RuntimeError):
    """The database is known to be down: the request was answered without a try."""


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unauthorized() -> _Refusal:
    return _Refusal(UNAUTHORIZED_CODE, UNAUTHORIZED_MESSAGE)


def _wake_nobody(bot_id: int) -> None:
    del bot_id


# The most requests one transaction stores: enough that a candle-close burst is written in
# a few commits, few enough that one batch holds SQLite's writer only briefly.
BATCH_LIMIT = 256
# When a batch fails, its requests are stored again one by one; this many failures in a row
# say the database is failing, not one request, and the rest are answered without a try.
LONE_FAILURES_TO_GIVE_UP = 3


@dataclass(eq=False)
class _Queued:
    """A request waiting for the committer, with what was judged without the database."""

    request: AlertRequest
    redacted: str
    key_hash: str
    # The body's verdict (judged before the key, see _authenticate), or the refusal decided
    # before the intake (Intake.refuse).
    parsed: Signal | _Refusal
    future: asyncio.Future[IntakeResult]
    # The refusal decided in the last attempt to store this request: answered even when
    # that attempt then failed to write its log row.
    refused_as: IntakeResult | None = None


@dataclass(eq=False)
class _Verdict:
    """What one queued request comes to in its batch, before anything is written."""

    item: _Queued
    bot: Bot | None
    refusal: _Refusal | None = None
    signal: Signal | None = None
    legs: list[Signal] = field(default_factory=list)  # the signal once per account it is for
    body_hash: str = ""
    duplicate_of: int | None = None  # a signal stored before this batch
    repeats: _Verdict | None = None  # an earlier request of this batch, stored by it
    stored_id: int | None = None
    stored_index: int = 0  # where its first leg is among the batch's new signals
    verified: bool = False


class Intake:
    """Checks alerts and stores them by group commit: one committer task takes every
    request queued (up to BATCH_LIMIT) and stores them in one transaction (the bots read
    and locked in one statement, the dedupe of the whole batch in one, the signals, their
    first state changes and every request's webhook_logs row in one executemany each),
    then answers them. Requests arriving while a batch commits go in the next one; an idle
    intake stores a request at once, alone, so batching adds no wait.

    "accepted" still means committed: a request is answered only after its batch's commit,
    and when a batch fails nothing of it was stored, so each of its requests is stored
    again on its own (a request the database refuses fails alone, answered 5xx by the
    front door). The committer runs apart from the requests' tasks: when a sender hangs up
    after its body arrived, its alert is still stored and its bot still woken. After each
    commit the intake calls `wake` once per bot with an accepted signal; a failing wake is
    logged, never answered. The batch's unit of work is urgent: it goes ahead of the
    execution work waiting for the database.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        dedupe_window: timedelta = timedelta(minutes=15),
        *,
        status_of: Callable[[str | None], int],
        passphrases: Passphrases,
        wake: Callable[[int], None] = _wake_nobody,
        storage: StorageStatus | None = None,
        alerts_first: AlertsFirst | None = None,
    ) -> None:
        """`status_of`: the front door's answer to a refusal code (None: accepted), for the
        webhook log's record of what each request was answered. `passphrases`: verifies
        passphrases with the server's secret key (and re-hashes old-style ones). `storage`:
        told of every failed batch, and asked before each one: while it says the database
        is down, requests are answered at once (5xx) rather than each waiting for its own
        failure, so every sender has its answer quickly during an outage."""
        self._uow_factory = uow_factory
        self._passphrases = passphrases
        self._dummy_hash = passphrases.hash(_DUMMY_BOT, "no-such-passphrase")
        self._status_of = status_of
        self._clock = clock
        self._dedupe_window = dedupe_window
        self._wake = wake
        self._storage = storage
        self._alerts_first = alerts_first
        self._queue: deque[_Queued] = deque()
        # The loop keeps only a weak reference to a task; aclose waits for this one.
        self._committer: asyncio.Task[None] | None = None

    async def receive(self, request: AlertRequest) -> IntakeResult:
        """Store the alert as a signal, or refuse it; raises only when storage fails."""
        with self._holding():
            redacted = redact_body(request.body)
            try:
                parsed: Signal | _Refusal = parse_alert(request.body, request.content_type)
            except AlertError as e:
                parsed = _Refusal(e.code, e.message)
            return await self._submit(request, redacted, parsed)

    async def refuse(self, request: AlertRequest, code: str, message: str) -> IntakeResult:
        """Log a refusal decided before the intake (size, rate limit, allowlist, shutdown)."""
        with self._holding():
            return await self._submit(request, redact_body(request.body), _Refusal(code, message))

    def _holding(self) -> contextlib.AbstractContextManager[None]:
        return self._alerts_first.holding() if self._alerts_first is not None else contextlib.nullcontext()

    async def aclose(self) -> None:
        """Wait until everything queued is stored (its callers may have gone)."""
        while (committer := self._committer) is not None and not committer.done():
            await asyncio.wait({committer})

    # ------------------------------------------------------------------ the committer

    async def _submit(self, request: AlertRequest, redacted: str, parsed: Signal | _Refusal) -> IntakeResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IntakeResult] = loop.create_future()
        self._queue.append(_Queued(request, redacted, key_hash(request.webhook_key), parsed, future))
        committer = self._committer
        if committer is None or committer.done() or committer.get_loop() is not loop:
            # Started when needed; it ends when the queue is empty, so no task outlives the work.
            if committer is not None and committer.get_loop() is not loop:
                # Left over from an event loop that is gone (tests run one loop each): its
                # requests went with it.
                self._queue = deque(q for q in self._queue if q.future.get_loop() is loop)
            self._committer = loop.create_task(self._commit_queued(), name="intake-committer")
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_report_orphan)  # the caller hung up: the store goes on
            raise

    async def _commit_queued(self) -> None:
        batch: list[_Queued] = []
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH_LIMIT, len(self._queue)))]
                await self._commit(batch)
        finally:
            # Cancelled (the loop is shutting down): nobody is left waiting forever.
            for item in [*batch, *self._queue]:
                if not item.future.done():
                    item.future.set_exception(RuntimeError("the intake stopped before storing the alert"))
            self._queue.clear()

    async def _commit(self, batch: list[_Queued]) -> Exception | None:
        """Store the batch and answer its requests; the error when it failed (answered too)."""
        storage = self._storage
        if storage is not None and storage.is_down:
            down = StorageDown(f"the database is down ({storage.reason or 'no answer'}); nothing was stored")
            for item in batch:
                self._fail(item, down)
            return down
        try:
            verdicts = await self._store(batch)
        except Exception as error:
            if storage is not None:
                storage.suspect(error)
            if len(batch) == 1:
                self._fail(batch[0], error)
                return error
            # Nothing of the batch was stored. One request may be what the database refused
            # (a body it cannot hold, say): each is stored again on its own, in its own
            # transaction, so a poisoned request fails alone instead of taking its batch down.
            # Unless the database itself is failing: after a few lone failures in a row the
            # rest are answered at once (5xx, or their refusal) rather than each waiting for
            # its own failure while the next batches queue behind.
            failed_in_a_row = 0
            for item in batch:
                if failed_in_a_row >= LONE_FAILURES_TO_GIVE_UP:
                    self._fail(item, error)
                    continue
                lone_error = await self._commit([item])
                failed_in_a_row = failed_in_a_row + 1 if lone_error is not None else 0
                error = lone_error or error
            return error
        first_stored: dict[int, int] = {}  # bot id -> its first new signal in this batch
        for v in verdicts:
            if v.stored_id is not None and v.bot is not None:
                first_stored.setdefault(v.bot.id, v.stored_id)
        for bot_id, signal_id in first_stored.items():
            try:
                self._wake(bot_id)
            except Exception as e:  # the signal is stored either way: the runner's sweep (or next start) finds it
                log.error("waking the runner for bot %d (signal %d) failed: %r", bot_id, signal_id, e)
        for v in verdicts:
            if not v.item.future.done():
                v.item.future.set_result(self._result(v))
        return None

    def _fail(self, item: _Queued, error: Exception) -> None:
        if item.future.done():
            return
        # A refusal is answered whether or not its log row was written; the caller logs the
        # failure. Anything else (accepted, duplicate, or not judged because the bot could
        # not be read) fails: the caller answers 5xx and nothing was stored.
        refused = item.refused_as
        if refused is None and isinstance(item.parsed, _Refusal):
            # Refused before the database was asked (a bad body, an early refusal); the bot
            # could not be read, so the answer names none.
            refused = self._refused(_unverified(item, item.parsed), None)
        if refused is None:
            item.future.set_exception(error)
        else:
            item.future.set_result(replace(refused, log_error=f"{type(error).__name__}: {error}"))

    async def _store(self, batch: list[_Queued]) -> list[_Verdict]:
        """Judge and store one batch in one transaction: its verdicts, in the batch's order."""
        async with self._uow_factory(urgent=True) as uow:
            # The bots as they stand inside this transaction (a pause applies to the very
            # next alert), locked for it so that each bot's alerts are deduplicated one
            # transaction at a time (PostgreSQL; SQLite's writer is one anyway).
            bots = await uow.bots.get_by_key_hashes(sorted({item.key_hash for item in batch}), for_update=True)
            verdicts = [await self._judge(uow, item, bots) for item in batch]
            await self._find_duplicates(uow, [v for v in verdicts if v.signal is not None])
            fresh = [v for v in verdicts if v.signal is not None and v.duplicate_of is None and v.repeats is None]
            # One signal per account the alert is for (a one-account bot's: one); the answer
            # names the first.
            new: list[NewSignal] = []  # the legs of every fresh alert, in order
            for v in fresh:
                assert v.bot is not None and v.signal is not None
                v.stored_index = len(new)
                new.extend(
                    NewSignal(
                        v.bot.id,
                        leg,
                        body_hash=v.body_hash,
                        state=SignalState.RECEIVED,
                        cause="webhook",
                        at=v.item.request.received_at,
                    )
                    for leg in v.legs
                )
            stored = await uow.signals.add_many(new)
            for v in fresh:
                v.stored_id = stored[v.stored_index].id
            # Every request's log row rides in the signals' transaction: a signal and its row,
            # both or neither.
            await uow.webhook_logs.add_many([self._log_entry_of(v) for v in verdicts])
            await uow.commit()
        return verdicts

    async def _judge(self, uow: UnitOfWork, item: _Queued, bots: dict[str, Bot]) -> _Verdict:
        """The checks of one request, in the order a request alone was always checked."""
        item.refused_as = None
        bot = bots.get(item.key_hash)
        refusal: _Refusal | None = item.parsed if isinstance(item.parsed, _Refusal) else None
        signal: Signal | None = None
        legs: list[Signal] = []
        verified = False
        if refusal is None:
            assert isinstance(item.parsed, Signal)
            try:
                bot, rehash = self._authenticate(item.parsed, bot)
                if rehash is not None:
                    # An old-style hash, just verified: replaced in this transaction, and the
                    # bot's later alerts in this batch are checked against the new one.
                    await uow.bots.set_passphrase_hash(bot.id, rehash)
                    bots[item.key_hash] = replace(bot, passphrase_hash=rehash)
                if bot.signing_secret:
                    self._check_signature(item.request, bot.signing_secret)
                verified = True
                signal, legs = self._check(item.parsed, bot)
            except _Refusal as e:
                refusal = e
        if refusal is not None:
            if not verified:
                refusal = _unverified(item, refusal)
            item.refused_as = self._refused(refusal, bot, verified=verified)
            return _Verdict(item, bot, refusal=refusal, verified=verified)
        assert bot is not None and signal is not None
        body_hash = hashlib.sha256(item.redacted.encode()).hexdigest()
        return _Verdict(item, bot, signal=signal, legs=legs, body_hash=body_hash, verified=True)

    async def _find_duplicates(self, uow: UnitOfWork, candidates: list[_Verdict]) -> None:
        """Mark each candidate that repeats a stored signal or an earlier request of its
        batch, by the one dedupe rule (SignalRepository.find_duplicate).

        The stored signals are looked up for the whole batch in one statement; the batch is
        then walked in order, as if its requests had come one by one, so 100 identical
        alerts arriving together make exactly one signal.
        """
        if not candidates:
            return
        found = await uow.signals.find_duplicates(
            [
                DuplicateProbe(v.bot.id, v.signal.alert_id, v.body_hash, since=self._since(v))
                for v in candidates
                if v.bot is not None and v.signal is not None
            ]
        )
        kept: dict[int, list[_Verdict]] = {}  # bot id -> its requests of the batch to be stored
        for v, duplicate_of in zip(candidates, found, strict=True):
            assert v.bot is not None and v.signal is not None
            if duplicate_of is not None:  # a stored signal has a lower id than any of the batch
                v.duplicate_of = duplicate_of
                continue
            since = self._since(v)
            mine = kept.setdefault(v.bot.id, [])
            for earlier in mine:
                assert earlier.signal is not None
                if (v.signal.alert_id is not None and earlier.signal.alert_id == v.signal.alert_id) or (
                    earlier.body_hash == v.body_hash and earlier.item.request.received_at >= since
                ):
                    v.repeats = earlier
                    break
            else:
                mine.append(v)

    def _since(self, v: _Verdict) -> datetime:
        return v.item.request.received_at - self._dedupe_window

    def _result(self, v: _Verdict) -> IntakeResult:
        if v.item.refused_as is not None:
            return v.item.refused_as
        assert v.bot is not None
        if v.repeats is not None:
            assert v.repeats.stored_id is not None
            return self._duplicate(v.bot, v.repeats.stored_id, self._why_duplicate(v))
        if v.duplicate_of is not None:
            return self._duplicate(v.bot, v.duplicate_of, self._why_duplicate(v))
        assert v.stored_id is not None
        return self._accepted(v.bot, v.stored_id)

    def _log_entry_of(self, v: _Verdict) -> WebhookLogEntry:
        request, redacted = v.item.request, v.item.redacted
        if v.refusal is not None:
            return self._log_entry(request, redacted, v.bot, refusal=v.refusal)
        duplicate_of = v.repeats.stored_id if v.repeats is not None else v.duplicate_of
        if duplicate_of is not None:
            why = self._why_duplicate(v)
            return self._log_entry(request, redacted, v.bot, duplicate_of=duplicate_of, duplicate_reason=why)
        return self._log_entry(request, redacted, v.bot, stored_id=v.stored_id)

    # ------------------------------------------------------------------ checks

    def _authenticate(self, signal: Signal, bot: Bot | None) -> tuple[Bot, str | None]:
        """The bot, when the key is known and the passphrase right; and the passphrase's new
        hash when the stored one is of the old kind."""
        # The body was judged before the key (in receive), so a bad body gets the same answer
        # whatever the key and the answer never tells a valid key from an invalid one.
        if bot is None:
            self._passphrases.check(_DUMMY_BOT, signal.passphrase or "", self._dummy_hash)
            raise _unauthorized()
        check = self._passphrases.check(bot.name, signal.passphrase, bot.passphrase_hash)
        if not check.ok:
            raise _unauthorized()
        return bot, check.rehash

    def _check(self, signal: Signal, bot: Bot) -> tuple[Signal, list[Signal]]:
        """The checks of a verified alert (see _judge: the signature is part of verifying):
        the signal as it is stored, and its legs (one per account it is for)."""
        self._check_age(signal, bot)
        if not bot.config.is_active:
            raise _Refusal(
                "bot_inactive",
                f"bot {bot.name} is inactive (is_active = false); its alerts are refused until it is activated",
            )
        if bot.paused:
            why = f" ({bot.paused_reason})" if bot.paused_reason else ""
            raise _Refusal(
                "bot_paused",
                f"bot {bot.name} is paused{why}; its alerts are refused until it is resumed",
            )
        self._check_ticker(signal, bot)
        if signal.shape is AlertShape.STRATEGY and signal.alert_id is not None:
            # {{strategy.order.id}} names the order ("Long", "Short"), not one alert: the same
            # id comes back on every later order of that name, so it must not dedupe forever.
            signal = replace(
                signal, alert_id=None, passphrase=None, extras={**signal.extras, "order_id": signal.alert_id}
            )
        elif signal.passphrase is not None:
            signal = replace(signal, passphrase=None)  # verified: nothing after this needs it
        try:
            legs = legs_of(bot.config, signal)
        except NotTheBotsAccount as e:
            raise _Refusal("unknown_account", str(e)) from None
        self._check_whole_contracts(signal, bot, legs)
        return signal, legs

    def _check_signature(self, request: AlertRequest, secret: str) -> None:
        if not request.signature or not request.signature_timestamp:
            raise _Refusal(
                "bad_signature",
                "this bot requires signed alerts: send X-Signature (sha256=<hex HMAC-SHA256 of "
                'timestamp + "." + body>) and X-Signature-Timestamp (unix seconds)',
            )
        stamp = request.signature_timestamp.strip()
        if not stamp.isdigit() or len(stamp) > 12:
            raise _Refusal("bad_signature", "X-Signature-Timestamp must be unix seconds (digits only)")
        skew = abs(self._clock.now().timestamp() - int(stamp))
        if skew > SIGNATURE_TOLERANCE.total_seconds():
            raise _Refusal(
                "bad_signature",
                f"X-Signature-Timestamp is {int(skew)} s away from our clock; the tolerance is "
                f"{int(SIGNATURE_TOLERANCE.total_seconds())} s",
            )
        expected = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        given = request.signature.strip()
        if not hmac.compare_digest(given.encode(), ("sha256=" + expected).encode()):
            raise _Refusal("bad_signature", "X-Signature does not match the body and timestamp")

    def _check_age(self, signal: Signal, bot: Bot) -> None:
        if signal.time is None:
            return
        now = self._clock.now()
        limit = bot.config.max_signal_age_seconds
        age = now - signal.time
        if age > timedelta(seconds=limit):
            raise _Refusal(
                "alert_too_old",
                f'the alert is {_duration(age)} old (its "time" is {_iso(signal.time)}); bot {bot.name} '
                f'refuses alerts older than {limit} s; put {{{{timenow}}}} in the alert\'s "time" field',
            )
        if -age > FUTURE_TOLERANCE:
            raise _Refusal(
                "alert_in_future",
                f'the alert\'s "time" {_iso(signal.time)} is {_duration(-age)} ahead of our clock; '
                'use {{timenow}} for "time" and check the sender\'s clock',
            )

    def _check_whole_contracts(self, signal: Signal, bot: Bot, legs: list[Signal]) -> None:
        """A fraction for a leg on Herenya or Paper (the accounts the settings define, known
        here without a read) that goes there as it is (not scaled by account_sizes) is
        refused now; an accounts file's herenya or paper account refuses it at execution."""
        if signal.quantity is None or quantities.is_whole(signal.quantity):
            return
        config = bot.config
        for account in (leg.account or config.broker_account for leg in legs):
            if account in BUILT_IN and (not signal.action.is_entry or config.size_on(account) == 1):
                why = quantities.whole_contracts_refusal(signal.quantity, config.symbol_on(account), account)
                raise _Refusal("bad_number", str(why))

    def _check_ticker(self, signal: Signal, bot: Bot) -> None:
        if signal.ticker is None:
            return
        # {{exchange}}:{{ticker}} is a common way to write it; the exchange part is not ours.
        given = signal.ticker.rsplit(":", 1)[-1].strip().upper()
        known = {bot.config.ticker.upper(), bot.config.symbol.upper()}
        if given not in known:
            expected = (
                bot.config.ticker
                if bot.config.ticker == bot.config.symbol
                else (f"{bot.config.ticker} (or {bot.config.symbol})")
            )
            raise _Refusal(
                "wrong_ticker",
                f"the alert's ticker \"{signal.ticker}\" is not bot {bot.name}'s ticker {expected}",
            )

    # ------------------------------------------------------------------ answers

    def _why_duplicate(self, v: _Verdict) -> str:
        """The dedupe rule that matched. An alert with an id repeats by its id (the same body
        carries the same id, so this holds whichever arm found it); one without, by its body."""
        if v.signal is not None and v.signal.alert_id is not None:
            return f'same id "{v.signal.alert_id}"'
        minutes = int(self._dedupe_window.total_seconds() // 60)
        return f"same body within {minutes} minute{'' if minutes == 1 else 's'}"

    @staticmethod
    def _duplicate(bot: Bot, signal_id: int, why: str) -> IntakeResult:
        return IntakeResult(
            outcome=DUPLICATE,
            code="duplicate",
            message=f"this alert repeats signal {signal_id} ({why}); nothing new was created",
            signal_id=signal_id,
            mode=bot.config.mode,
            bot_name=bot.name,
            verified=True,
            duplicate_reason=why,
        )

    @staticmethod
    def _accepted(bot: Bot, signal_id: int) -> IntakeResult:
        return IntakeResult(
            outcome=ACCEPTED,
            code=None,
            message=f"signal {signal_id} stored for bot {bot.name} ({bot.config.mode.value} mode)",
            signal_id=signal_id,
            mode=bot.config.mode,
            bot_name=bot.name,
            verified=True,
        )

    @staticmethod
    def _refused(refusal: _Refusal, bot: Bot | None, *, verified: bool = False) -> IntakeResult:
        return IntakeResult(
            outcome=REFUSED,
            code=refusal.code,
            message=refusal.message,
            # An unverified request must not learn (nor log) which bot its key belongs to.
            bot_name=bot.name if bot is not None and verified else None,
            verified=verified,
        )

    def _log_entry(
        self,
        request: AlertRequest,
        redacted: str,
        bot: Bot | None,
        *,
        refusal: _Refusal | None = None,
        duplicate_of: int | None = None,
        duplicate_reason: str | None = None,
        stored_id: int | None = None,
    ) -> WebhookLogEntry:
        if refusal is not None:
            code, outcome, reason = refusal.code, REFUSED, f"{refusal.code}: {refusal.message}"
        elif duplicate_of is not None:
            why = f": {duplicate_reason}" if duplicate_reason else ""
            code, outcome, reason = None, DUPLICATE, f"duplicate of signal {duplicate_of}{why}"
        else:
            code, outcome, reason = None, ACCEPTED, None
        return WebhookLogEntry(
            received_at=request.received_at,
            client_ip=request.client_ip,
            status=self._status_of(code),
            outcome=outcome,
            reason=reason,
            body=redacted if bot is not None else _prefix(redacted),
            bot_id=bot.id if bot is not None else None,
            signal_id=duplicate_of if duplicate_of is not None else stored_id,
        )


def _unverified(item: _Queued, refusal: _Refusal) -> _Refusal:
    """The refusal of a request that did not verify: the front door's, when it set one."""
    replacement = item.request.unverified_refusal
    return _Refusal(*replacement) if replacement is not None else refusal


def _report_orphan(future: asyncio.Future[IntakeResult]) -> None:
    """What became of a request whose sender hung up: logged, since nobody else will hear it."""
    if future.cancelled():
        return
    error = future.exception()  # retrieved even when nobody awaits it any more
    if error is not None:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        log.error("alert not stored after its sender hung up: %s: %s", type(error).__name__, first[:300])


def _prefix(body: str) -> str:
    raw = body.encode()
    if len(raw) <= UNKNOWN_KEY_BODY_BYTES:
        return body
    kept = raw[:UNKNOWN_KEY_BODY_BYTES].decode(errors="ignore")
    return f"{kept}\u2026 [cut: {len(raw)} bytes sent for an unknown key, the first {UNKNOWN_KEY_BODY_BYTES} kept]"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"
