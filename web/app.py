"""The Quart application factory: the webhook, the JSON API, /health and /openapi.json."""

from __future__ import annotations

import logging

from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from web.api import api_blueprint
from web.deps import WebDeps
from web.errors import error_response
from web.health import health_blueprint
from web.openapi import openapi_document
from web.webhook import describe_failure, webhook_blueprint

log = logging.getLogger("signaldesk.web")


def create_app(deps: WebDeps) -> Quart:
    app = Quart("signaldesk")
    # Quart stops reading a body past this and raises 413, so an oversized body is never held.
    app.config["MAX_CONTENT_LENGTH"] = deps.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    app.register_blueprint(webhook_blueprint(deps))
    app.register_blueprint(api_blueprint(deps))
    app.register_blueprint(health_blueprint(deps))
    document = openapi_document()

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return jsonify(document)

    @app.errorhandler(HTTPException)
    async def http_error(e: HTTPException) -> Response:
        code = (e.name or "error").lower().replace(" ", "_")
        status = e.code or 500
        if status == 413:
            code = "body_too_large"
        allowed = getattr(e, "valid_methods", None)
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        return error_response(status, code, e.description or e.name, headers)

    @app.errorhandler(Exception)
    async def unexpected(e: Exception) -> Response:
        log.error("unexpected error: %s", describe_failure(e), exc_info=e)
        return error_response(500, "internal_error", "something went wrong on our side; it is logged")

    return app
