"""POST /webhook/<key>: the front door for TradingView alerts.

Cheap refusals (shutting down, address not allowed, a key's own rate limit, connections in
flight, size) are decided here before the body is read; everything about the alert itself is
the Intake's business, including whether a request over a limit of failing requests is
refused: only when it does not verify (see `webhook`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from quart import Blueprint, Response, jsonify, request
from quart_schema import DataSource, document_headers, document_request, document_response
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from trading.services.intake import ACCEPTED, REFUSED, AlertRequest, IntakeResult
from web.addresses import client_address, contains, parse_networks
from web.deps import WebDeps
from web.errors import error_response, status_for
from web.ratelimit import InFlight, TokenBuckets
from web.schemas.answers import AcceptedOut, ErrorOut
from web.schemas.request_bodies import AlertDoc, SignatureHeaders

log = logging.getLogger("signaldesk.web.webhook")

_MAX_KEY_FOR_BUCKET = 128


def key_tail(key: str) -> str:
    """What of a webhook key may appear in a log line: its last 4 characters."""
    return "…" + key[-4:]


def describe_failure(error: BaseException) -> str:
    # Only the first line: database errors go on to quote the SQL and its parameters.
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first[:300]}"


def webhook_blueprint(deps: WebDeps) -> Blueprint:
    bp = Blueprint("webhook", __name__)
    allowlist = parse_networks(deps.webhook.ip_allowlist, "webhook IP allowlist")
    proxies = parse_networks(deps.webhook.trusted_proxies, "webhook trusted proxies")
    per_key = TokenBuckets(deps.webhook.rate_per_key, deps.webhook.burst_per_key)
    per_ip = TokenBuckets(deps.webhook.rate_per_ip, deps.webhook.burst_per_ip)
    in_flight = InFlight(deps.webhook.max_connections_per_ip)
    # Requests that fail to verify (unknown key, wrong passphrase, bad signature, an alert
    # that cannot be read) are limited on their own, so that they never use up the tokens
    # of a key's real alerts.
    failed_per_ip = TokenBuckets(deps.webhook.failed_rate_per_ip, deps.webhook.failed_burst_per_ip)
    failed_per_key = TokenBuckets(deps.webhook.failed_rate_per_key, deps.webhook.failed_burst_per_key)

    async def refuse_early(
        alert: AlertRequest, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        status = status_for(code)
        log.warning(
            "webhook %s from %s refused %d %s: %s", key_tail(alert.webhook_key), alert.client_ip, status, code, message
        )
        try:
            result = await deps.intake.refuse(alert, code, message)
        except Exception as e:
            log.error("webhook log row for a %d refusal not written: %s", status, describe_failure(e))
        else:
            if result.log_error:
                log.error("webhook log row for a %d refusal not written: %s", status, result.log_error)
        return error_response(status, code, message, headers)

    # Documented, never validated by quart-schema: the body is read raw and judged by the Intake.
    @bp.post("/webhook/<key>")
    @document_headers(SignatureHeaders)
    @document_request(AlertDoc, source=DataSource.JSON)
    @document_response(AcceptedOut, 200)
    @document_response(ErrorOut, 400)
    @document_response(ErrorOut, 401)
    @document_response(ErrorOut, 403)
    @document_response(ErrorOut, 409)
    @document_response(ErrorOut, 413)
    @document_response(ErrorOut, 422)
    @document_response(ErrorOut, 429)
    @document_response(ErrorOut, 503)
    async def webhook(key: str) -> Response:
        """Take a TradingView alert

        Stores the alert as a signal and answers once it is durably stored.
        """
        client = request.scope.get("client")
        peer = client[0] if client else None
        headers = request.headers
        ip = client_address(peer, headers.getlist("X-Forwarded-For"), proxies)
        alert = AlertRequest(
            webhook_key=key,
            body=b"",
            content_type=request.content_type,
            client_ip=ip,
            received_at=deps.clock(),
            signature=_first(headers.getlist("X-Signature")),
            signature_timestamp=_first(headers.getlist("X-Signature-Timestamp")),
        )
        if deps.draining.is_set():
            return await refuse_early(
                alert, "shutting_down", "signaldesk is shutting down; the alert was not taken, send it again"
            )
        if allowlist and not contains(allowlist, ip):
            return await refuse_early(alert, "address_not_allowed", f"alerts are not taken from address {ip}")
        bucket = key[:_MAX_KEY_FOR_BUCKET]
        # A key's own limit is spent only by requests that verified with that key (see
        # _read_and_take), so it never refuses an alert for other senders' failures.
        wait = per_key.peek(bucket)
        if wait is not None:
            return await refuse_early(
                alert,
                "rate_limited",
                f"too many requests for this webhook key (limit {per_key.rate:g}/s, burst {per_key.burst}); "
                f"retry in {wait:.1f} s",
                {"Retry-After": retry_after(wait)},
            )
        # The limits of an address, and of refused attempts, bind only requests that fail to
        # verify: TradingView sends every user's alerts from four shared addresses, so one
        # user's failures must not refuse another's correct alert. Verifying is a keyed hash
        # done by the intake inside its batch (the bot is read there by key hash anyway), so
        # the limiter decides *after* the intake's verdict: the refusal to give instead is
        # handed to the intake, which gives it only to a request that does not verify. No
        # extra database read per request, and the group commit stays the one path; a
        # refused attempt costs what an early refusal always did (its log row, in the batch),
        # plus reading its body (bounded by the size limit and the per-address cap below).
        over_limit = _over_limit(ip, bucket)
        if over_limit is not None:
            alert = replace(alert, unverified_refusal=(over_limit[0], over_limit[1]))
        if not in_flight.enter(ip):
            return await refuse_early(
                alert,
                "too_many_connections",
                f"too many webhook requests in flight from {ip} (at most {in_flight.limit} at a time); "
                "finish or close the others first",
                {"Retry-After": "1", "Connection": "close"},
            )
        try:
            return await _read_and_take(alert, over_limit[2] if over_limit is not None else None)
        finally:
            in_flight.leave(ip)

    def _over_limit(ip: str, bucket: str) -> tuple[str, str, float] | None:
        """The rate_limited refusal (code, message, seconds to wait) for a request from `ip`
        with key `bucket` that fails to verify, when a limit binding such requests is reached."""
        wait = per_ip.take(ip)  # every request counts; only the unverified are refused for it
        if wait is not None:
            return (
                "rate_limited",
                f"too many requests from {ip} (limit {per_ip.rate:g}/s, burst {per_ip.burst}); retry in {wait:.1f} s",
                wait,
            )
        wait = failed_per_ip.peek(ip)
        if wait is not None:
            return (
                "rate_limited",
                f"too many refused attempts from {ip} (unknown key, wrong passphrase, bad signature or unreadable "
                f"alert; limit {failed_per_ip.rate:g}/s, burst {failed_per_ip.burst}); retry in {wait:.1f} s",
                wait,
            )
        wait = failed_per_key.peek(bucket)
        if wait is not None:
            return (
                "rate_limited",
                f"too many refused attempts for this webhook key (limit {failed_per_key.rate:g}/s, burst "
                f"{failed_per_key.burst}); retry in {wait:.1f} s",
                wait,
            )
        return None

    async def _read_and_take(alert: AlertRequest, over_limit_wait: float | None) -> Response:
        key, ip = alert.webhook_key, alert.client_ip
        too_big = f"the body is over {deps.webhook.max_body_bytes} bytes; an alert must be at most {deps.webhook.max_body_bytes} bytes"
        length = request.content_length
        if length is not None and length > deps.webhook.max_body_bytes:
            return await refuse_early(alert, "body_too_large", too_big)
        seconds = deps.webhook.body_timeout_seconds
        # Our own timeout, not Quart's: its body timeout wraps the read in a task of its own.
        request.body_timeout = None
        try:
            async with asyncio.timeout(seconds):
                body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
        except RequestEntityTooLarge:
            return await refuse_early(alert, "body_too_large", too_big)
        except (TimeoutError, RequestTimeout):
            got = "part of the body" if request.content_length else "the body"
            return await refuse_early(
                alert,
                "body_timeout",
                f"{got} did not arrive within {seconds:g} s; send the whole body at once "
                "(and a Content-Length that matches it)",
                {"Connection": "close"},
            )
        alert = replace(alert, body=body)
        try:
            result = await deps.intake.receive(alert)
        except Exception as e:
            log.error("webhook %s from %s: alert not stored: %s", key_tail(key), ip, describe_failure(e))
            return error_response(
                503,
                "storage_unavailable",
                "the alert could not be stored (the database did not answer); it was not accepted, send it again",
            )
        bucket = key[:_MAX_KEY_FOR_BUCKET]
        if result.verified:
            per_key.take(bucket)
        else:
            failed_per_ip.take(ip)
            failed_per_key.take(bucket)
        headers = None
        if over_limit_wait is not None and result.outcome == REFUSED and not result.verified:
            headers = {"Retry-After": retry_after(over_limit_wait)}
        return _answer(key, ip, result, headers)

    return bp


def _first(values: list[str]) -> str | None:
    # From getlist, not get: werkzeug's get raises and catches an exception for a header that
    # is not there, which most of these never are.
    return values[0] if values else None


def retry_after(wait: float) -> str:
    return str(max(1, round(wait + 0.5)))


def _answer(key: str, ip: str, result: IntakeResult, headers: dict[str, str] | None = None) -> Response:
    if result.log_error:
        log.error("webhook log row not written: %s", result.log_error)
    if result.outcome == REFUSED:
        status = status_for(result.code)
        log.warning("webhook %s from %s refused %d %s: %s", key_tail(key), ip, status, result.code, result.message)
        return error_response(status, result.code or "refused", result.message, headers)
    assert result.signal_id is not None  # accepted and duplicate answers always name the signal
    if result.outcome == ACCEPTED:
        log.info("webhook %s from %s: signal %d accepted for %s", key_tail(key), ip, result.signal_id, result.bot_name)
        return jsonify(
            {"status": "accepted", "signal_id": result.signal_id, "mode": result.mode.value if result.mode else None}
        )
    why = result.duplicate_reason or "a repeat"
    log.info("webhook %s from %s: duplicate of signal %d (%s)", key_tail(key), ip, result.signal_id, why)
    return jsonify({"status": "duplicate", "signal_id": result.signal_id, "reason": why, "message": result.message})
