"""The webhook intake use case: one alert request in, one stored signal (or a reasoned refusal) out.

The signal is committed before the answer is decided, so an "accepted" answer means the
signal survives a crash; execution starts later from the stored signals. Every request,
whatever its outcome, leaves one webhook_logs row, with the passphrase removed from the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from trading.domain.alerts import AlertError, parse_alert, redact_body
from trading.domain.credentials import key_hash, passphrase_matches
from trading.domain.records import Bot, DuplicateProbe, NewSignal, WebhookLogEntry
from trading.domain.signals import AlertShape, Signal, SignalState
from trading.domain.values import Mode
from trading.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REFUSED = "refused"

UNAUTHORIZED_CODE = "unauthorized"
# One answer for an unknown key and a wrong or missing passphrase, so keys cannot be probed.
UNAUTHORIZED_MESSAGE = "unknown webhook key or wrong passphrase"

SIGNATURE_TOLERANCE = timedelta(seconds=300)
# A sender's clock may run a little ahead of ours; further than this and its "time" is not
# to be trusted to measure the alert's age (a far-future time would never grow old).
FUTURE_TOLERANCE = timedelta(seconds=60)

# Compared against when the key is unknown, so that path does the same hashing work as a
# wrong passphrase and its timing does not tell the two apart.
_DUMMY_SALT = "no-such-bot"
_DUMMY_HASH = hmac.new(_DUMMY_SALT.encode(), b"no-such-passphrase", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AlertRequest:
    webhook_key: str
    body: bytes
    content_type: str | None
    client_ip: str
    received_at: datetime  # timezone-aware UTC
    signature: str | None = None  # X-Signature: "sha256=<hex>"
    signature_timestamp: str | None = None  # X-Signature-Timestamp: unix seconds


@dataclass(frozen=True)
class IntakeResult:
    status: int
    outcome: str  # accepted | duplicate | refused
    code: str | None
    message: str
    signal_id: int | None = None
    mode: Mode | None = None
    bot_name: str | None = None
    # Set when the webhook_logs row of a refusal could not be written; the answer stands,
    # and the front-end reports the failure in its own log.
    log_error: str | None = None


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _unauthorized() -> _Refusal:
    return _Refusal(401, UNAUTHORIZED_CODE, UNAUTHORIZED_MESSAGE)


# The most requests one transaction stores. Large enough that a flood is written in a few
# commits a second, small enough that one batch holds the SQLite writer only briefly.
BATCH_LIMIT = 256


@dataclass(eq=False)
class _Queued:
    """A request waiting for the writer, with what could be judged without the database."""

    request: AlertRequest
    redacted: str
    key_hash: str
    # The body's verdict (judged before the key, see _check), or the refusal decided before
    # the intake (Intake.refuse).
    parsed: Signal | _Refusal
    early: bool  # True for Intake.refuse: the refusal stands whatever the bot
    future: asyncio.Future[IntakeResult]
    # The refusal decided in the last attempt to write this request, if any: answered even
    # when that attempt then failed to write its log row.
    refused_as: IntakeResult | None = None


@dataclass(eq=False)
class _Verdict:
    """What the writer decided for one queued request, before anything is written."""

    item: _Queued
    bot: Bot | None
    refusal: _Refusal | None = None
    signal: Signal | None = None
    body_hash: str = ""
    duplicate_of: int | None = None  # a stored signal
    repeats: _Verdict | None = None  # an earlier request of the same batch, stored by it
    stored_id: int | None = None

    @property
    def signal_id(self) -> int | None:
        if self.repeats is not None:
            return self.repeats.stored_id
        return self.duplicate_of if self.duplicate_of is not None else self.stored_id


class Intake:
    """Checks alerts and stores them through one writer task (group commit).

    Every request is queued for the writer, which takes all that are waiting (up to
    BATCH_LIMIT), judges them against the bots as stored at that moment, and writes the
    new signals and every log row of the batch in one transaction with one commit: on
    SQLite that is one writer turn and one fsync for the batch instead of one per request.
    A request is answered only after its batch committed, so "accepted" still means
    durably stored. When idle, a request is written at once, alone: batching adds no wait.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        dedupe_window: timedelta = timedelta(minutes=15),
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._dedupe_window = dedupe_window
        self._queue: deque[_Queued] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    async def receive(self, request: AlertRequest) -> IntakeResult:
        """Store the alert as a signal, or refuse it; raises only when storage fails."""
        redacted = redact_body(request.body)
        try:
            parsed: Signal | _Refusal = parse_alert(request.body, request.content_type)
        except AlertError as e:
            parsed = _Refusal(e.status, e.code, e.message)
        return await self._submit(request, redacted, parsed, early=False)

    async def refuse(self, request: AlertRequest, status: int, code: str, message: str) -> IntakeResult:
        """Log a refusal decided before the intake (size, rate limit, allowlist, shutdown)."""
        return await self._submit(request, redact_body(request.body), _Refusal(status, code, message), early=True)

    async def aclose(self) -> None:
        """Write everything queued, then stop the writer. A later request starts a new one."""
        writer = self._writer
        if writer is None:
            return
        self._closing = True
        self._wakeup.set()
        try:
            await writer
        finally:
            self._closing = False
            if self._writer is writer:
                self._writer = None

    # ------------------------------------------------------------------ the writer

    async def _submit(
        self, request: AlertRequest, redacted: str, parsed: Signal | _Refusal, early: bool
    ) -> IntakeResult:
        loop = asyncio.get_running_loop()
        self._ensure_writer(loop)
        future: asyncio.Future[IntakeResult] = loop.create_future()
        self._queue.append(_Queued(request, redacted, key_hash(request.webhook_key), parsed, early, future))
        self._wakeup.set()
        return await future

    def _ensure_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        writer = self._writer
        if writer is not None and writer.get_loop() is not loop:
            # Left over from an event loop that is gone (tests run one loop each); whatever
            # it had queued died with that loop.
            writer, self._writer = None, None
            self._queue = deque()
            self._wakeup = asyncio.Event()
        if writer is None or writer.done():
            self._writer = loop.create_task(self._write_forever(), name="intake-writer")

    async def _write_forever(self) -> None:
        batch: list[_Queued] = []
        try:
            while True:
                while not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                batch = []
                while self._queue and len(batch) < BATCH_LIMIT:
                    item = self._queue.popleft()
                    # A request whose caller has gone (the client hung up) before its turn is
                    # not stored: nobody was told it was accepted, nobody would wake the runner.
                    if not item.future.done():
                        batch.append(item)
                if batch:
                    await self._write_and_answer(batch)
        finally:
            # Cancelled (the loop is shutting down): nobody is left waiting forever.
            for item in [*batch, *self._queue]:
                if not item.future.done():
                    item.future.set_exception(RuntimeError("the intake writer stopped before storing the alert"))
            self._queue.clear()

    async def _write_and_answer(self, batch: list[_Queued]) -> None:
        try:
            results = await self._write(batch)
        except Exception as error:
            if len(batch) == 1:
                self._answer_failure(batch[0], error)
                return
            # Nothing of the batch was stored. One request may be what the database refused
            # (a body it cannot hold, say), so each is tried again alone: a poisoned request
            # fails by itself instead of taking its batch down with it.
            for item in batch:
                if not item.future.done():
                    await self._write_and_answer([item])
            return
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    def _answer_failure(self, item: _Queued, error: Exception) -> None:
        if item.future.done():
            return
        # A refusal is answered whether or not its log row was written; the caller logs the
        # failure. A request not refused by then (accepted, duplicate, or not judged because
        # the bots could not be read) fails: the caller answers 5xx and nothing was stored.
        refused = item.refused_as
        if refused is None and isinstance(item.parsed, _Refusal):
            # Refused before the database was asked (a bad body, an early refusal); the bot
            # could not be read, so the answer names none.
            refused = self._refused(item.parsed, None)
        if refused is None:
            item.future.set_exception(error)
        else:
            item.future.set_result(replace(refused, log_error=f"{type(error).__name__}: {error}"))

    async def _write(self, batch: list[_Queued]) -> list[IntakeResult]:
        """Judge and store one batch in one transaction; the answers, in the batch's order."""
        async with self._uow_factory() as uow:
            # The bots as they stand inside this transaction, so a pause or a deactivation
            # applies to every request written after it; one read per key in the batch.
            bots: dict[str, Bot | None] = {}
            for item in batch:
                if item.key_hash not in bots:
                    bots[item.key_hash] = await uow.bots.get_by_key_hash(item.key_hash)
            verdicts = [self._judge(item, bots[item.key_hash]) for item in batch]
            await self._find_duplicates(uow, [v for v in verdicts if v.signal is not None])
            fresh = [v for v in verdicts if v.signal is not None and v.duplicate_of is None and v.repeats is None]
            stored = await uow.signals.add_many(
                [
                    NewSignal(
                        v.bot.id,
                        v.signal,
                        body_hash=v.body_hash,
                        state=SignalState.RECEIVED,
                        cause="webhook",
                        at=v.item.request.received_at,
                    )
                    for v in fresh
                    if v.bot is not None and v.signal is not None
                ]
            )
            for v, s in zip(fresh, stored, strict=True):
                v.stored_id = s.id
            # The log rows ride in the signals' transaction: a signal and its row, both or neither.
            await uow.webhook_logs.add_many([self._log_entry(v) for v in verdicts])
            await uow.commit()
        return [self._result(v) for v in verdicts]

    def _judge(self, item: _Queued, bot: Bot | None) -> _Verdict:
        item.refused_as = None
        if isinstance(item.parsed, _Refusal):
            item.refused_as = self._refused(item.parsed, bot)
            return _Verdict(item, bot, refusal=item.parsed)
        try:
            checked_bot, signal = self._check(item.request, item.parsed, bot)
        except _Refusal as refusal:
            item.refused_as = self._refused(refusal, bot)
            return _Verdict(item, bot, refusal=refusal)
        body_hash = hashlib.sha256(item.redacted.encode()).hexdigest()
        return _Verdict(item, checked_bot, signal=signal, body_hash=body_hash)

    async def _find_duplicates(self, uow: UnitOfWork, candidates: list[_Verdict]) -> None:
        """Mark each candidate that repeats a stored signal or an earlier one of the batch.

        The stored signals are looked up for the whole batch in one query; the batch is then
        walked in order, as if its requests had come one by one, so 100 identical alerts
        arriving together make exactly one signal.
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
        kept: list[_Verdict] = []
        for v, duplicate_of in zip(candidates, found, strict=True):
            assert v.bot is not None and v.signal is not None
            if duplicate_of is not None:  # a stored signal has a lower id than any of the batch
                v.duplicate_of = duplicate_of
                continue
            since = self._since(v)
            for earlier in kept:
                assert earlier.bot is not None and earlier.signal is not None
                if earlier.bot.id == v.bot.id and (
                    (v.signal.alert_id is not None and earlier.signal.alert_id == v.signal.alert_id)
                    or (earlier.body_hash == v.body_hash and earlier.item.request.received_at >= since)
                ):
                    v.repeats = earlier
                    break
            else:
                kept.append(v)

    def _since(self, v: _Verdict) -> datetime:
        return v.item.request.received_at - self._dedupe_window

    # ------------------------------------------------------------------ checks

    def _check(self, request: AlertRequest, signal: Signal, bot: Bot | None) -> tuple[Bot, Signal]:
        # The body was judged before the key (in receive), so a bad body gets the same answer
        # whatever the key and the answer never tells a valid key from an invalid one.
        if bot is None:
            passphrase_matches(signal.passphrase or "", _DUMMY_HASH, _DUMMY_SALT)
            raise _unauthorized()
        if not passphrase_matches(signal.passphrase, bot.passphrase_hash, bot.name):
            raise _unauthorized()
        if bot.signing_secret:
            self._check_signature(request, bot.signing_secret)
        self._check_age(signal, bot)
        if not bot.config.is_active:
            raise _Refusal(
                409,
                "bot_inactive",
                f"bot {bot.name} is inactive (is_active = false); its alerts are refused until it is activated",
            )
        if bot.paused:
            why = f" ({bot.paused_reason})" if bot.paused_reason else ""
            raise _Refusal(
                409,
                "bot_paused",
                f"bot {bot.name} is paused{why}; its alerts are refused until it is resumed",
            )
        self._check_ticker(signal, bot)
        if signal.shape is AlertShape.STRATEGY and signal.alert_id is not None:
            # {{strategy.order.id}} names the order ("Long", "Short"), not one alert: the same
            # id comes back on every later order of that name, so it must not dedupe forever.
            signal = replace(signal, alert_id=None, extras={**signal.extras, "order_id": signal.alert_id})
        return bot, signal

    def _check_signature(self, request: AlertRequest, secret: str) -> None:
        if not request.signature or not request.signature_timestamp:
            raise _Refusal(
                401,
                "bad_signature",
                "this bot requires signed alerts: send X-Signature (sha256=<hex HMAC-SHA256 of "
                'timestamp + "." + body>) and X-Signature-Timestamp (unix seconds)',
            )
        stamp = request.signature_timestamp.strip()
        if not stamp.isdigit() or len(stamp) > 12:
            raise _Refusal(401, "bad_signature", "X-Signature-Timestamp must be unix seconds (digits only)")
        skew = abs(self._clock.now().timestamp() - int(stamp))
        if skew > SIGNATURE_TOLERANCE.total_seconds():
            raise _Refusal(
                401,
                "bad_signature",
                f"X-Signature-Timestamp is {int(skew)} s away from our clock; the tolerance is "
                f"{int(SIGNATURE_TOLERANCE.total_seconds())} s",
            )
        expected = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        given = request.signature.strip()
        if not hmac.compare_digest(given.encode(), ("sha256=" + expected).encode()):
            raise _Refusal(401, "bad_signature", "X-Signature does not match the body and timestamp")

    def _check_age(self, signal: Signal, bot: Bot) -> None:
        if signal.time is None:
            return
        now = self._clock.now()
        limit = bot.config.max_signal_age_seconds
        age = now - signal.time
        if age > timedelta(seconds=limit):
            raise _Refusal(
                422,
                "alert_too_old",
                f'the alert is {_duration(age)} old (its "time" is {_iso(signal.time)}); bot {bot.name} '
                f'refuses alerts older than {limit} s; put {{{{timenow}}}} in the alert\'s "time" field',
            )
        if -age > FUTURE_TOLERANCE:
            raise _Refusal(
                422,
                "alert_in_future",
                f'the alert\'s "time" {_iso(signal.time)} is {_duration(-age)} ahead of our clock; '
                'use {{timenow}} for "time" and check the sender\'s clock',
            )

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
                422,
                "wrong_ticker",
                f"the alert's ticker \"{signal.ticker}\" is not bot {bot.name}'s ticker {expected}",
            )

    # ------------------------------------------------------------------ answers

    def _result(self, v: _Verdict) -> IntakeResult:
        if v.refusal is not None:
            return self._refused(v.refusal, v.bot)
        bot, signal_id = v.bot, v.signal_id
        assert bot is not None and signal_id is not None
        if v.stored_id is None:
            return IntakeResult(
                status=200,
                outcome=DUPLICATE,
                code="duplicate",
                message=f"this alert repeats signal {signal_id}; nothing new was created",
                signal_id=signal_id,
                mode=bot.config.mode,
                bot_name=bot.name,
            )
        return IntakeResult(
            status=200,
            outcome=ACCEPTED,
            code=None,
            message=f"signal {signal_id} stored for bot {bot.name} ({bot.config.mode.value} mode)",
            signal_id=signal_id,
            mode=bot.config.mode,
            bot_name=bot.name,
        )

    @staticmethod
    def _refused(refusal: _Refusal, bot: Bot | None, log_error: str | None = None) -> IntakeResult:
        return IntakeResult(
            status=refusal.status,
            outcome=REFUSED,
            code=refusal.code,
            message=refusal.message,
            bot_name=bot.name if bot is not None and refusal.status != 401 else None,
            log_error=log_error,
        )

    @staticmethod
    def _log_entry(v: _Verdict) -> WebhookLogEntry:
        request = v.item.request
        if v.refusal is not None:
            status, outcome, reason = v.refusal.status, REFUSED, f"{v.refusal.code}: {v.refusal.message}"
        elif v.stored_id is None:
            status, outcome, reason = 200, DUPLICATE, f"duplicate of signal {v.signal_id}"
        else:
            status, outcome, reason = 200, ACCEPTED, None
        return WebhookLogEntry(
            received_at=request.received_at,
            client_ip=request.client_ip,
            status=status,
            outcome=outcome,
            reason=reason,
            body=v.item.redacted,
            bot_id=v.bot.id if v.bot is not None else None,
            signal_id=v.signal_id,
        )


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
