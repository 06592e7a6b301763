"""The webhook intake use case: one alert request in, one stored signal (or a reasoned refusal) out.

The signal is committed before the answer is decided, so an "accepted" answer means the
signal survives a crash; execution starts later from the stored signals. Every request,
whatever its outcome, leaves one webhook_logs row, with the passphrase removed from the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from trading.domain.alerts import AlertError, parse_alert, redact_body
from trading.domain.credentials import Passphrases, key_hash
from trading.domain.records import Bot, WebhookLogEntry
from trading.domain.signals import AlertShape, Signal, SignalState
from trading.domain.values import Mode
from trading.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

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


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unauthorized() -> _Refusal:
    return _Refusal(UNAUTHORIZED_CODE, UNAUTHORIZED_MESSAGE)


def _wake_nobody(bot_id: int) -> None:
    del bot_id


class Intake:
    """Checks alerts and stores each in its own transaction: the bot's look-up, the dedupe,
    the signal and the webhook_logs row, committed together before the answer.

    The store runs as a task of its own, shielded from the caller: when the sender hangs
    up after its body arrived (TradingView does, when an answer is slow), the alert is
    still stored and the runner still woken. After the commit of an accepted signal the
    intake calls `wake` with its bot's id; a failing wake is logged, never answered.
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
    ) -> None:
        """`status_of`: the front door's answer to a refusal code (None: accepted), for the
        webhook log's record of what each request was answered. `passphrases`: verifies
        passphrases with the server's secret key (and re-hashes old-style ones)."""
        self._uow_factory = uow_factory
        self._passphrases = passphrases
        self._dummy_hash = passphrases.hash(_DUMMY_BOT, "no-such-passphrase")
        self._status_of = status_of
        self._clock = clock
        self._dedupe_window = dedupe_window
        self._wake = wake
        # Stores in flight: the loop keeps only weak references to tasks, and aclose waits for them.
        self._stores: set[asyncio.Task[IntakeResult]] = set()
        self._orphans: set[asyncio.Task[IntakeResult]] = set()

    async def receive(self, request: AlertRequest) -> IntakeResult:
        """Store the alert as a signal, or refuse it; raises only when storage fails."""
        redacted = redact_body(request.body)
        try:
            parsed: Signal | _Refusal = parse_alert(request.body, request.content_type)
        except AlertError as e:
            parsed = _Refusal(e.code, e.message)
        return await self._shielded(request, redacted, parsed)

    async def refuse(self, request: AlertRequest, code: str, message: str) -> IntakeResult:
        """Log a refusal decided before the intake (size, rate limit, allowlist, shutdown)."""
        return await self._shielded(request, redact_body(request.body), _Refusal(code, message))

    async def aclose(self) -> None:
        """Wait for the stores in flight (their callers may have gone)."""
        while self._stores:
            await asyncio.gather(*self._stores, return_exceptions=True)

    # ------------------------------------------------------------------ the store

    async def _shielded(self, request: AlertRequest, redacted: str, parsed: Signal | _Refusal) -> IntakeResult:
        store = asyncio.ensure_future(self._store(request, redacted, parsed))
        self._stores.add(store)
        store.add_done_callback(self._stored)
        try:
            return await asyncio.shield(store)
        except asyncio.CancelledError:
            self._orphans.add(store)  # the caller hung up: the store goes on, its outcome is logged
            raise

    def _stored(self, store: asyncio.Task[IntakeResult]) -> None:
        self._stores.discard(store)
        orphan = store in self._orphans
        self._orphans.discard(store)
        if store.cancelled():
            return
        error = store.exception()  # retrieved even when nobody awaits it any more
        if orphan and error is not None:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            log.error("alert not stored after its sender hung up: %s: %s", type(error).__name__, first[:300])

    async def _store(self, request: AlertRequest, redacted: str, parsed: Signal | _Refusal) -> IntakeResult:
        refused: IntakeResult | None = None
        if isinstance(parsed, _Refusal):
            # Refused before the database was asked (a bad body, an early refusal); should the
            # bot's look-up fail, the answer names no bot.
            refused = self._refused(parsed, None)
        try:
            async with self._uow_factory() as uow:
                # The bot as it stands inside this transaction (a pause applies to the very next
                # alert), locked for it so that this bot's alerts are deduplicated one by one.
                bot = await uow.bots.get_by_key_hash(key_hash(request.webhook_key), for_update=True)
                refusal: _Refusal | None = parsed if isinstance(parsed, _Refusal) else None
                signal: Signal | None = None
                if refusal is None:
                    assert isinstance(parsed, Signal)
                    try:
                        bot, rehash = self._authenticate(parsed, bot)
                        if rehash is not None:
                            # An old-style hash, just verified: replaced in this transaction.
                            await uow.bots.set_passphrase_hash(bot.id, rehash)
                        bot, signal = self._check(request, parsed, bot)
                    except _Refusal as e:
                        refusal = e
                if refusal is not None:
                    refused = self._refused(refusal, bot)
                    await uow.webhook_logs.add(self._log_entry(request, redacted, bot, refusal=refusal))
                    await uow.commit()
                    return refused
                assert bot is not None and signal is not None
                result, stored_id = await self._dedupe_and_add(uow, request, redacted, bot, signal)
                await uow.commit()
        except Exception as error:
            # A refusal is answered whether or not its log row was written; the caller logs the
            # failure. Anything else (accepted, duplicate, or not judged because the bot could
            # not be read) fails: the caller answers 5xx and nothing was stored.
            if refused is None:
                raise
            return replace(refused, log_error=f"{type(error).__name__}: {error}")
        if stored_id is not None:
            try:
                self._wake(bot.id)
            except Exception as e:  # the signal is stored either way: the runner's sweep (or next start) finds it
                log.error("waking the runner for bot %d (signal %d) failed: %r", bot.id, stored_id, e)
        return result

    async def _dedupe_and_add(
        self, uow: UnitOfWork, request: AlertRequest, redacted: str, bot: Bot, signal: Signal
    ) -> tuple[IntakeResult, int | None]:
        body_hash = hashlib.sha256(redacted.encode()).hexdigest()
        duplicate_of = await uow.signals.find_duplicate(
            bot.id,
            alert_id=signal.alert_id,
            body_hash=body_hash,
            since=request.received_at - self._dedupe_window,
        )
        if duplicate_of is not None:
            await uow.webhook_logs.add(self._log_entry(request, redacted, bot, duplicate_of=duplicate_of))
            return self._duplicate(bot, duplicate_of), None
        stored = await uow.signals.add(
            bot.id, signal, body_hash=body_hash, state=SignalState.RECEIVED, cause="webhook", at=request.received_at
        )
        await uow.webhook_logs.add(self._log_entry(request, redacted, bot, stored_id=stored.id))
        return self._accepted(bot, stored.id), stored.id

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

    def _check(self, request: AlertRequest, signal: Signal, bot: Bot) -> tuple[Bot, Signal]:
        if bot.signing_secret:
            self._check_signature(request, bot.signing_secret)
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
            signal = replace(signal, alert_id=None, extras={**signal.extras, "order_id": signal.alert_id})
        return bot, signal

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

    @staticmethod
    def _duplicate(bot: Bot, signal_id: int) -> IntakeResult:
        return IntakeResult(
            outcome=DUPLICATE,
            code="duplicate",
            message=f"this alert repeats signal {signal_id}; nothing new was created",
            signal_id=signal_id,
            mode=bot.config.mode,
            bot_name=bot.name,
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
        )

    @staticmethod
    def _refused(refusal: _Refusal, bot: Bot | None, log_error: str | None = None) -> IntakeResult:
        return IntakeResult(
            outcome=REFUSED,
            code=refusal.code,
            message=refusal.message,
            bot_name=bot.name if bot is not None and refusal.code not in UNAUTHORIZED_CODES else None,
            log_error=log_error,
        )

    def _log_entry(
        self,
        request: AlertRequest,
        redacted: str,
        bot: Bot | None,
        *,
        refusal: _Refusal | None = None,
        duplicate_of: int | None = None,
        stored_id: int | None = None,
    ) -> WebhookLogEntry:
        if refusal is not None:
            code, outcome, reason = refusal.code, REFUSED, f"{refusal.code}: {refusal.message}"
        elif duplicate_of is not None:
            code, outcome, reason = None, DUPLICATE, f"duplicate of signal {duplicate_of}"
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
