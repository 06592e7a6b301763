"""The one shape every error answer has: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

from collections.abc import Mapping

from quart import Response, jsonify


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
