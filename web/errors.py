"""The one shape every error answer has: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

from collections.abc import Mapping

from quart import Response, jsonify

# What each refusal code answers over HTTP; any other refusal of an alert or a request is 422.
_STATUS_OF_CODE = {
    "not_utf8": 400,
    "not_json": 400,
    "ambiguous_length": 400,
    "unauthorized": 401,
    "bad_signature": 401,
    "forbidden": 403,
    "address_not_allowed": 403,
    "not_found": 404,
    "bot_inactive": 409,
    "bot_paused": 409,
    "body_timeout": 408,
    "body_too_large": 413,
    "too_many_connections": 429,
    "rate_limited": 429,
    "shutting_down": 503,
    "storage_unavailable": 503,
}


def status_for(code: str | None) -> int:
    """The HTTP status of an answer with this refusal code; 200 for none (accepted) and
    for a duplicate (answered like the alert it repeats)."""
    if code is None or code == "duplicate":
        return 200
    return _STATUS_OF_CODE.get(code, 422)


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
