"""The webhook intake use case: one alert request in, one stored signal (or a reasoned refusal) out.

The signal is committed before the answer is decided, so an "accepted" answer means the
signal survives a crash; execution starts later from the stored signals. Every request,
whatever its outcome, leaves one webhook_logs row, with the passphrase removed from the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from trading.alerts import AlertError, parse_alert, redact_body
from trading.ports import Clock, DuplicateSignal, UnitOfWork, UnitOfWorkFactory
from trading.records import Bot, WebhookLogEntry
from trading.secrets import key_hash, passphrase_matches
from trading.signals import AlertShape, Signal, SignalState
from trading.values import Mode

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


class Intake:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        dedupe_window: timedelta = timedelta(minutes=15),
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._dedupe_window = dedupe_window
        # find_duplicate + add must not interleave for one bot, or two identical alerts
        # arriving together would both find nothing and both be stored.
        self._locks: dict[int, asyncio.Lock] = {}

    async def receive(self, request: AlertRequest) -> IntakeResult:
        """Store the alert as a signal, or refuse it; raises only when storage fails.

        One transaction per request, whatever its outcome: on SQLite every transaction
        waits its turn for the single writer, so each one saved is throughput gained.
        """
        redacted = redact_body(request.body)
        raced_with: tuple[Bot, int] | None = None
        async with self._uow_factory() as uow:
            bot = await uow.bots.get_by_key_hash(key_hash(request.webhook_key))
            try:
                checked_bot, signal = self._check(request, bot)
            except _Refusal as refusal:
                return await self._log_refusal(uow, request, bot, refusal, redacted)
            # Taken inside the transaction: whoever holds it already has a connection, so
            # the tasks waiting for it cannot starve it of one.
            async with self._locks.setdefault(checked_bot.id, asyncio.Lock()):
                result = await self._store(uow, request, checked_bot, signal, redacted)
            if isinstance(result, IntakeResult):
                return result
            raced_with = (checked_bot, result)
        # The database refused a second copy that another process stored first; that spoils
        # the transaction, so the duplicate's log row goes in a fresh one.
        bot, duplicate_of = raced_with
        async with self._uow_factory() as uow:
            await uow.webhook_logs.add(self._duplicate_entry(request, bot, redacted, duplicate_of))
            await uow.commit()
        return self._duplicate(bot, duplicate_of)

    async def refuse(self, request: AlertRequest, status: int, code: str, message: str) -> IntakeResult:
        """Log a refusal decided before the intake (size, rate limit, allowlist, shutdown)."""
        async with self._uow_factory() as uow:
            bot = await uow.bots.get_by_key_hash(key_hash(request.webhook_key))
            return await self._log_refusal(
                uow, request, bot, _Refusal(status, code, message), redact_body(request.body)
            )

    # ------------------------------------------------------------------ checks

    def _check(self, request: AlertRequest, bot: Bot | None) -> tuple[Bot, Signal]:
        # The body is judged before the key, so a bad body gets the same answer whatever
        # the key and the answer never tells a valid key from an invalid one.
        try:
            signal = parse_alert(request.body, request.content_type)
        except AlertError as e:
            raise _Refusal(e.status, e.code, e.message) from None
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

    # ------------------------------------------------------------------ storage

    async def _store(
        self, uow: UnitOfWork, request: AlertRequest, bot: Bot, signal: Signal, redacted: str
    ) -> IntakeResult | int:
        """The answer, or the id of the signal another process stored first."""
        body_hash = hashlib.sha256(redacted.encode()).hexdigest()
        since = request.received_at - self._dedupe_window
        duplicate_of = await uow.signals.find_duplicate(
            bot.id, alert_id=signal.alert_id, body_hash=body_hash, since=since
        )
        if duplicate_of is not None:
            await uow.webhook_logs.add(self._duplicate_entry(request, bot, redacted, duplicate_of))
            await uow.commit()
            return self._duplicate(bot, duplicate_of)
        try:
            stored = await uow.signals.add(
                bot.id, signal, body_hash=body_hash, state=SignalState.RECEIVED, cause="webhook", at=request.received_at
            )
        except DuplicateSignal as e:
            return e.signal_id
        await uow.webhook_logs.add(self._log_entry(request, bot, 200, ACCEPTED, None, redacted, stored.id))
        await uow.commit()
        return IntakeResult(
            status=200,
            outcome=ACCEPTED,
            code=None,
            message=f"signal {stored.id} stored for bot {bot.name} ({bot.config.mode.value} mode)",
            signal_id=stored.id,
            mode=bot.config.mode,
            bot_name=bot.name,
        )

    def _duplicate_entry(self, request: AlertRequest, bot: Bot, redacted: str, signal_id: int) -> WebhookLogEntry:
        reason = f"duplicate of signal {signal_id}"
        return self._log_entry(request, bot, 200, DUPLICATE, reason, redacted, signal_id)

    @staticmethod
    def _duplicate(bot: Bot, signal_id: int) -> IntakeResult:
        return IntakeResult(
            status=200,
            outcome=DUPLICATE,
            code="duplicate",
            message=f"this alert repeats signal {signal_id}; nothing new was created",
            signal_id=signal_id,
            mode=bot.config.mode,
            bot_name=bot.name,
        )

    async def _log_refusal(
        self, uow: UnitOfWork, request: AlertRequest, bot: Bot | None, refusal: _Refusal, redacted: str
    ) -> IntakeResult:
        log_error = None
        reason = f"{refusal.code}: {refusal.message}"
        try:
            await uow.webhook_logs.add(self._log_entry(request, bot, refusal.status, REFUSED, reason, redacted, None))
            await uow.commit()
        except Exception as e:  # the refusal is answered either way; the caller logs this
            log_error = f"{type(e).__name__}: {e}"
        return IntakeResult(
            status=refusal.status,
            outcome=REFUSED,
            code=refusal.code,
            message=refusal.message,
            bot_name=bot.name if bot is not None and refusal.status != 401 else None,
            log_error=log_error,
        )

    @staticmethod
    def _log_entry(
        request: AlertRequest,
        bot: Bot | None,
        status: int,
        outcome: str,
        reason: str | None,
        redacted: str,
        signal_id: int | None,
    ) -> WebhookLogEntry:
        return WebhookLogEntry(
            received_at=request.received_at,
            client_ip=request.client_ip,
            status=status,
            outcome=outcome,
            reason=reason,
            body=redacted,
            bot_id=bot.id if bot is not None else None,
            signal_id=signal_id,
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
