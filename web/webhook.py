"""POST /webhook/<key>: the front door for TradingView alerts.

Cheap refusals (shutting down, address not allowed, rate limits, size) are decided here
before the body is read; everything about the alert itself is the Intake's business.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from quart import Blueprint, Response, jsonify, request
from quart_schema import DataSource, document_headers, document_request, document_response
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from trading.services.intake import ACCEPTED, DUPLICATE, REFUSED, UNAUTHORIZED_CODES, AlertRequest, IntakeResult
from web.addresses import client_address, contains, parse_networks
from web.deps import WebDeps
from web.errors import error_response, status_for
from web.models import AcceptedOut, AlertDoc, ErrorOut, SignatureHeaders
from web.ratelimit import InFlight, RecentSenders, TokenBuckets

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
    allowlist = parse_networks(deps.ip_allowlist, "webhook IP allowlist")
    proxies = parse_networks(deps.trusted_proxies, "webhook trusted proxies")
    per_key = TokenBuckets(deps.rate_per_key, deps.burst_per_key)
    per_ip = TokenBuckets(deps.rate_per_ip, deps.burst_per_ip)
    in_flight = InFlight(deps.max_connections_per_ip)
    # Refused attempts (unknown key, wrong passphrase, bad signature) are limited on their
    # own, so that they never use up the tokens of a key's real alerts.
    failed_per_ip = TokenBuckets(deps.failed_rate_per_ip, deps.failed_burst_per_ip)
    failed_per_key = TokenBuckets(deps.failed_rate_per_key, deps.failed_burst_per_key)
    senders = RecentSenders()

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
        ip = client_address(peer, request.headers.getlist("X-Forwarded-For"), proxies)
        alert = AlertRequest(
            webhook_key=key,
            body=b"",
            content_type=request.content_type,
            client_ip=ip,
            received_at=deps.clock(),
            signature=request.headers.get("X-Signature"),
            signature_timestamp=request.headers.get("X-Signature-Timestamp"),
        )
        if deps.draining.is_set():
            return await refuse_early(
                alert, "shutting_down", "signaldesk is shutting down; the alert was not taken, send it again"
            )
        if allowlist and not contains(allowlist, ip):
            return await refuse_early(alert, "address_not_allowed", f"alerts are not taken from address {ip}")
        wait = per_ip.take(ip)
        if wait is not None:
            return await refuse_early(
                alert,
                "rate_limited",
                f"too many requests from {ip} (limit {per_ip.rate:g}/s, burst {per_ip.burst}); retry in {wait:.1f} s",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        bucket = key[:_MAX_KEY_FOR_BUCKET]
        wait = failed_per_ip.peek(ip)
        if wait is not None:
            return await refuse_early(
                alert,
                "rate_limited",
                f"too many refused attempts from {ip} (unknown key, wrong passphrase or bad signature; limit "
                f"{failed_per_ip.rate:g}/s, burst {failed_per_ip.burst}); retry in {wait:.1f} s",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        if (bucket, ip) not in senders:
            # Over its limit, a key is still open to the addresses its real alerts come from.
            wait = failed_per_key.peek(bucket)
            if wait is not None:
                return await refuse_early(
                    alert,
                    "rate_limited",
                    f"too many refused attempts for this webhook key (limit {failed_per_key.rate:g}/s, burst "
                    f"{failed_per_key.burst}); retry in {wait:.1f} s",
                    {"Retry-After": str(max(1, round(wait + 0.5)))},
                )
        # Charged once the answer is known (below): refused attempts go to their own buckets.
        wait = per_key.peek(bucket)
        if wait is not None:
            return await refuse_early(
                alert,
                "rate_limited",
                f"too many requests for this webhook key (limit {per_key.rate:g}/s, burst {per_key.burst}); "
                f"retry in {wait:.1f} s",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        if not in_flight.enter(ip):
            return await refuse_early(
                alert,
                "too_many_connections",
                f"too many webhook requests in flight from {ip} (at most {in_flight.limit} at a time); "
                "finish or close the others first",
                {"Retry-After": "1", "Connection": "close"},
            )
        try:
            return await _read_and_take(alert)
        finally:
            in_flight.leave(ip)

    async def _read_and_take(alert: AlertRequest) -> Response:
        key, ip = alert.webhook_key, alert.client_ip
        too_big = f"the body is over {deps.max_body_bytes} bytes; an alert must be at most {deps.max_body_bytes} bytes"
        if request.content_length is not None and request.content_length > deps.max_body_bytes:
            return await refuse_early(alert, "body_too_large", too_big)
        seconds = deps.body_timeout_seconds
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
        if result.outcome == REFUSED and result.code in UNAUTHORIZED_CODES:
            failed_per_ip.take(ip)
            failed_per_key.take(bucket)
        else:
            per_key.take(bucket)
            if result.outcome in (ACCEPTED, DUPLICATE):
                senders.add(bucket, ip)
        return _answer(key, ip, result)

    return bp


def _answer(key: str, ip: str, result: IntakeResult) -> Response:
    if result.log_error:
        log.error("webhook log row not written: %s", result.log_error)
    if result.outcome == REFUSED:
        status = status_for(result.code)
        log.warning("webhook %s from %s refused %d %s: %s", key_tail(key), ip, status, result.code, result.message)
        return error_response(status, result.code or "refused", result.message)
    assert result.signal_id is not None  # accepted and duplicate answers always name the signal
    if result.outcome == ACCEPTED:
        log.info("webhook %s from %s: signal %d accepted for %s", key_tail(key), ip, result.signal_id, result.bot_name)
        return jsonify(
            {"status": "accepted", "signal_id": result.signal_id, "mode": result.mode.value if result.mode else None}
        )
    log.info("webhook %s from %s: duplicate of signal %d", key_tail(key), ip, result.signal_id)
    return jsonify({"status": "duplicate", "signal_id": result.signal_id})
