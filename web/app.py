"""The Quart application factory: the webhook, the JSON API, /health, /openapi.json, and the
web desk's sign-in (templates in web/templates, static files in web/static)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from quart import Quart, Response, request
from quart_schema import QuartSchema, RequestSchemaValidationError
from quart_schema.openapi import OpenAPIProvider
from quart_schema.typing import Model
from quart_schema.validation import DataSource, QuerystringValidationError
from werkzeug.exceptions import HTTPException

from trading.services.sign_in_limits import SignInLimits as DeskSignInLimits
from web.api import BEARER, api_blueprint
from web.auth import Gate, install, is_api
from web.deps import WebDeps
from web.errors import error_response
from web.health import health_blueprint
from web.json_request import BadBody, JsonRequest
from web.login import login_blueprint
from web.login_limits import InProcessLimits, LoginLimiter, SignInLimits
from web.pages import pages_blueprint
from web.schemas.refusals import REQUEST_MODELS
from web.streams import OpenStreams
from web.webhook import describe_failure, webhook_blueprint

log = logging.getLogger("signaldesk.web")

DESCRIPTION = (
    "TradingView alerts in; bots, positions, trades and signals out. "
    'Every error answer is {"error": {"code": ..., "message": ...}}.'
)


WEB_DIR = Path(__file__).resolve().parent

# Every page: no script or style but our own files, no framing, no referrer sent anywhere.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _answers_json(path: str) -> bool:
    """The API's and the webhook's answers: JSON for programs, never a page."""
    return is_api(path) or path.startswith("/webhook/")


class _Provider(OpenAPIProvider):
    """The document as quart-schema builds it, but a body with required fields (an order)
    is itself required: without it the route answers 422, and the document says so."""

    def build_request_body(self, model: type[Model], source: DataSource) -> tuple[dict[str, Any], dict[str, Any]]:
        body, components = super().build_request_body(model, source)
        required = (
            isinstance(model, type)
            and issubclass(model, BaseModel)
            and any(info.is_required() for info in model.model_fields.values())
        )
        if required:
            body["required"] = True
        return body, components


def create_app(deps: WebDeps) -> Quart:
    app = Quart("signaldesk", root_path=str(WEB_DIR))
    app.request_class = JsonRequest
    # Quart stops reading a body past this and raises 413, so an oversized body is never held.
    app.config["MAX_CONTENT_LENGTH"] = deps.webhook.max_body_bytes
    # Quart answers 408 when a body read through get_data is not in within this time.
    app.config["BODY_TIMEOUT"] = deps.webhook.body_timeout_seconds
    QuartSchema(
        app,
        info={"title": "signaldesk", "version": "1", "description": DESCRIPTION},
        security_schemes={BEARER: {"type": "http", "scheme": "bearer"}},
        # The document only: the UI pages would load their scripts from a CDN.
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        openapi_provider_class=_Provider,
    )
    # Flask's documented switch; its (and Quart's) annotations type `app.json` as the base
    # JSONProvider, which has no sort_keys, though the instance is the DefaultJSONProvider.
    app.json.sort_keys = False  # type: ignore[attr-defined]

    gate = Gate(
        people=deps.people,
        secret_key=deps.secret_key,
        break_glass_token=deps.api_token,
        trusted_proxies=deps.webhook.trusted_proxies,
        session_seconds=deps.session_seconds,
        limiter=_sign_in_limits(deps),
        streams=OpenStreams(deps.max_streams_per_person, deps.max_streams),
    )
    app.register_blueprint(webhook_blueprint(deps))
    app.register_blueprint(api_blueprint(deps, gate))
    app.register_blueprint(health_blueprint(deps, gate))
    app.register_blueprint(login_blueprint(gate))
    app.register_blueprint(pages_blueprint(deps))

    @app.before_request
    async def refuse_ambiguous_framing() -> Response | None:
        # With both, a proxy and this server may disagree on where the body ends (request
        # smuggling); Hypercorn lets such a request through, so it is refused here.
        # getlist, not `in`: werkzeug's `in` raises and catches an exception for an absent header.
        headers = request.headers
        if headers.getlist("Transfer-Encoding") and headers.getlist("Content-Length"):
            return error_response(
                400, "ambiguous_length", "send Content-Length or Transfer-Encoding, not both", {"Connection": "close"}
            )
        return None

    # After the framing check: the CSRF check may read a form body.
    install(app, gate)

    @app.after_request
    async def api_headers(response: Response) -> Response:
        if _answers_json(request.path):
            # Answers hold positions, orders and alerts' fates: no cache may keep them, and no
            # browser may read them as anything but JSON (the page headers are for pages).
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Cache-Control"] = "no-store"
        else:
            # Every other answer (pages, their refusals and redirects, static files) gets the
            # page headers; pages are never cached (they show positions and who decided).
            # What a view set stays (werkzeug's setdefault raises and catches an exception for
            # each header that is not there yet: every one, on most answers).
            present = {name.lower() for name, _ in response.headers.items()}
            for name, value in PAGE_HEADERS.items():
                if name.lower() not in present:
                    response.headers[name] = value
            if "cache-control" not in present and (response.mimetype == "text/html" or request.path == "/login"):
                response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_request(e: RequestSchemaValidationError) -> Response:
        code = "invalid_query" if isinstance(e, QuerystringValidationError) else "invalid_body"
        error = e.validation_error
        if not isinstance(error, ValidationError):
            return error_response(422, code, str(error)[:300])
        model = REQUEST_MODELS.get(error.title)
        if model is None:
            return error_response(422, code, str(error)[:300])
        return error_response(422, model.error_code, model.describe(error))

    @app.errorhandler(BadBody)
    async def bad_body(e: BadBody) -> Response:
        return error_response(e.status, e.code, e.message)

    @app.errorhandler(HTTPException)
    async def http_error(e: HTTPException) -> Response:
        code = (e.name or "error").lower().replace(" ", "_")
        status = e.code or 500
        if status == 413:
            code = "body_too_large"
        allowed = getattr(e, "valid_methods", None)
        headers = {"Allow": ", ".join(allowed)} if allowed else {}
        if status == 408:
            code = "body_timeout"
            headers["Connection"] = "close"  # the rest of the body may still come: not this connection
        return error_response(status, code, e.description or e.name, headers)

    @app.errorhandler(Exception)
    async def unexpected(e: Exception) -> Response:
        log.error("unexpected error: %s", describe_failure(e), exc_info=e)
        return error_response(500, "internal_error", "something went wrong on our side; it is logged")

    return app


def _sign_in_limits(deps: WebDeps) -> SignInLimits:
    """The desk's, in the database, when it has one: a guesser spreading attempts over the
    processes of a desk gains nothing."""
    if deps.sign_ins is None:
        return InProcessLimits(LoginLimiter(deps.login_max_failures, deps.login_failure_window_seconds))
    return DeskSignInLimits(deps.sign_ins, deps.clock, deps.login_max_failures, deps.login_failure_window_seconds)
