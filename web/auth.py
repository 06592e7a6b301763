"""Who is calling, and what they may do: sessions, API tokens, CSRF, roles.

Three ways in, each an Actor for the use cases and the audit log:

- a browser session (a signed, HttpOnly, SameSite=Strict cookie holding a random token
  whose hash is in `web_sessions`): actor `web:NAME`, the person's role;
- a personal API token (`Authorization: Bearer sd_...`, `signaldesk users token NAME`):
  actor `api:NAME`, the person's role;
- the break-glass token SIGNALDESK_API_TOKEN (`Authorization: Bearer ...`): actor
  `api:break-glass`, admin.

A bearer token wins over a cookie. Every POST/PUT/PATCH/DELETE that carries the session
cookie (and no bearer token) must carry the session's CSRF token, in the form field
`csrf_token` or the header `X-CSRF-Token`, or it is refused 403 before any view runs.

For views (docs/web.md):

    @bp.get("/approvals")
    @require_role(Role.VIEWER)           # no session: redirect to /login (JSON 401 under /api)
    async def approvals() -> str: ...    # too low a role: 403
    current_caller() / current_actor() / current_person()
    {{ csrf_token() }} and {{ caller }} in every template
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Quart, Response, current_app, g, redirect, request
from werkzeug.datastructures import Headers

from trading.domain.people import Person, Role
from trading.domain.wording import actor_words
from trading.services.actions import Actor
from trading.services.people import People
from web.addresses import Network, client_address, contains, parse_networks
from web.errors import error_response
from web.login_limits import SignInLimits
from web.streams import OpenStreams

log = logging.getLogger("signaldesk.web.auth")

SESSION_COOKIE = "signaldesk_session"
LOGIN_COOKIE = "signaldesk_login"  # the pre-session CSRF nonce of the login form
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
BREAK_GLASS_ID = "api:break-glass"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_EXTENSION = "signaldesk.gate"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of this request."""

    actor: Actor  # what the use cases are given: id "web:alice", "api:alice" or "api:break-glass"
    person: Person | None  # None for the break-glass token
    via: str  # "web" (session cookie) or "api" (bearer token)

    @property
    def role(self) -> Role:
        return self.actor.role or Role.VIEWER

    def may(self, role: Role) -> bool:
        return self.actor.may(role)


class Gate:
    """Authentication for the app; one per app, found by the helpers below."""

    def __init__(
        self,
        *,
        people: People | None,
        secret_key: str | None,
        break_glass_token: str | None,
        trusted_proxies: Sequence[str],
        session_seconds: float,
        limiter: SignInLimits,
        streams: OpenStreams | None = None,
    ) -> None:
        self.people = people
        self._secret = secret_key.encode() if secret_key else None
        self._break_glass = break_glass_token.encode() if break_glass_token else None
        self._proxies: tuple[Network, ...] = parse_networks(trusted_proxies, "WEBHOOK_TRUSTED_PROXIES")
        self.session_seconds = session_seconds
        self.limiter = limiter
        self.streams = streams or OpenStreams(per_person=10, total=500)
        self._sessions = URLSafeTimedSerializer(secret_key, salt="signaldesk-session") if secret_key else None
        self._logins = URLSafeTimedSerializer(secret_key, salt="signaldesk-login") if secret_key else None

    @property
    def sessions_on(self) -> bool:
        """Whether people can sign in (there are people to ask, and a key to sign cookies)."""
        return self.people is not None and self._sessions is not None

    # ---- the request's facts

    def client(self) -> str:
        return client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), self._proxies)

    def is_https(self) -> bool:
        """Served over TLS, or behind a trusted proxy that says it was."""
        if request.scheme == "https":
            return True
        if self._proxies and contains(self._proxies, request.remote_addr or ""):
            forwarded = request.headers.get("X-Forwarded-Proto", "")
            return forwarded.split(",")[-1].strip().lower() == "https"
        return False

    # ---- cookies

    def session_token(self) -> str | None:
        """The session token of the request's cookie, when its signature holds (no database read)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if raw is None or self._sessions is None:
            return None
        try:
            token = self._sessions.loads(raw, max_age=int(self.session_seconds))
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def set_session_cookie(self, response: Response, token: str) -> None:
        assert self._sessions is not None
        response.set_cookie(
            SESSION_COOKIE,
            self._sessions.dumps(token),
            max_age=int(self.session_seconds),
            path="/",
            secure=self.is_https(),
            httponly=True,
            samesite="Strict",
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=self.is_https(), httponly=True, samesite="Strict")

    def login_nonce(self) -> str | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        if raw is None or self._logins is None:
            return None
        try:
            nonce = self._logins.loads(raw, max_age=3600)
        except BadSignature:
            return None
        return nonce if isinstance(nonce, str) else None

    def new_login_nonce(self, response: Response) -> str:
        assert self._logins is not None
        nonce = secrets.token_urlsafe(32)
        response.set_cookie(
            LOGIN_COOKIE,
            self._logins.dumps(nonce),
            max_age=3600,
            path="/login",
            secure=self.is_https(),
            httponly=True,
            samesite="Strict",
        )
        return nonce

    def clear_login_cookie(self, response: Response) -> None:
        response.delete_cookie(LOGIN_COOKIE, path="/login", secure=self.is_https(), httponly=True, samesite="Strict")

    # ---- CSRF

    def csrf_for(self, purpose: str, token: str) -> str:
        assert self._secret is not None
        return hmac.new(self._secret, f"{purpose}:{token}".encode(), hashlib.sha256).hexdigest()

    def expected_csrf(self) -> str | None:
        """The CSRF token this request must carry, or None when it holds no cookie to protect."""
        token = self.session_token()
        if token is not None:
            return self.csrf_for("session", token)
        if request.path == "/login":
            nonce = self.login_nonce()
            return self.csrf_for("login", nonce) if nonce is not None else ""  # "": nothing matches
        return None

    async def check_csrf(self) -> Response | None:
        """The 403 for a state-changing, cookie-authenticated request without its CSRF token."""
        if request.method not in UNSAFE_METHODS or _bearer(request.headers.get("Authorization", "")) is not None:
            return None
        if not self.sessions_on:
            return None
        expected = self.expected_csrf()
        if expected is None:
            return None
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.form).get(CSRF_FIELD)
        if sent and expected and hmac.compare_digest(sent.encode(), expected.encode()):
            return None
        log.warning("%s %s refused: missing or wrong CSRF token (from %s)", request.method, request.path, self.client())
        message = "missing or wrong CSRF token: reload the page and try again"
        if is_api(request.path):
            return error_response(403, "csrf", message)
        return Response(message, status=403, content_type="text/plain; charset=utf-8")

    def check_origin(self) -> Response | None:
        """The 403 for a state-changing request that a page of another site sent (its Origin
        names another host). "null" (sent e.g. under Referrer-Policy: no-referrer, as our pages
        have) and no Origin at all are left to the CSRF check."""
        origin = request.headers.get("Origin")
        if request.method not in UNSAFE_METHODS or origin is None or origin == "null":
            return None
        sent = urlsplit(origin)
        if sent.scheme in ("http", "https") and sent.netloc.lower() == request.host.lower():
            return None
        log.warning("%s %s refused: sent from another site (from %s)", request.method, request.path, self.client())
        message = "refused: this request came from a page of another site"
        if is_api(request.path):
            return error_response(403, "foreign_origin", message)
        return Response(message, status=403, content_type="text/plain; charset=utf-8")

    # ---- who is it

    async def resolve(self) -> Caller | None:
        """The caller of this request (cached in `g`): bearer token first, then the session."""
        if "caller" in g:
            cached: Caller | None = g.caller
            return cached
        caller = await self._resolve()
        g.caller = caller
        return caller

    def credential(self) -> str | None:
        """What authenticates this request: its bearer token, else its session token."""
        bearer = _bearer(request.headers.get("Authorization", ""))
        return bearer if bearer is not None else self.session_token()

    async def still_valid(self, caller: Caller, credential: str | None) -> bool:
        """Whether the session or token a long request (an event stream) was opened with still
        lets its person in: not signed out, expired, revoked or disabled since."""
        if caller.person is None:
            return True  # the break-glass token: it lasts as long as the process's settings
        if self.people is None or credential is None:
            return False
        if caller.via == "web":
            person = await self.people.session_person(credential)
        else:
            person = await self.people.token_person(credential)
        return person is not None and person.id == caller.person.id

    async def _resolve(self) -> Caller | None:
        bearer = _bearer(request.headers.get("Authorization", ""))
        if bearer is not None:
            if self._break_glass is not None and hmac.compare_digest(bearer.encode(), self._break_glass):
                return Caller(Actor(BREAK_GLASS_ID, actor_words(BREAK_GLASS_ID), role=Role.ADMIN), None, "api")
            person = await self.people.token_person(bearer) if self.people is not None else None
            if person is None:
                log.warning("%s %s refused: unknown, revoked or disabled bearer token", request.method, request.path)
                return None
            return Caller(Actor.person("api", person.name, person.role), person, "api")
        token = self.session_token()
        if token is None or self.people is None:
            return None
        person = await self.people.session_person(token)
        if person is None:
            return None
        return Caller(Actor.person("web", person.name, person.role), person, "web")


def _bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


# ---------------------------------------------------------------------------- for views


def install(app: Quart, gate: Gate) -> None:
    """Put the gate on the app: the CSRF check before every request, and `csrf_token()`
    and `caller` in every template."""
    app.extensions[_EXTENSION] = gate

    @app.before_request
    async def refuse_forged_posts() -> Response | None:
        if request.path.startswith("/webhook/"):
            return None  # no cookie is ever honoured there
        return gate.check_origin() or await gate.check_csrf()

    @app.context_processor
    async def auth_context() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "caller": g.get("caller")}


def gate() -> Gate:
    found: Gate = current_app.extensions[_EXTENSION]
    return found


def current_caller() -> Caller | None:
    """The caller resolved for this request by `require_role` or the API's check (None before)."""
    found: Caller | None = g.get("caller")
    return found


def current_actor() -> Actor:
    """The Actor to hand the use cases; only inside a view that required a role."""
    caller = current_caller()
    if caller is None:
        raise RuntimeError("current_actor() outside an authenticated view: decorate it with @require_role")
    return caller.actor


def current_person() -> Person | None:
    caller = current_caller()
    return caller.person if caller is not None else None


def csrf_token() -> str:
    """The CSRF token of this request's session, for forms (`<input type="hidden"
    name="csrf_token" value="{{ csrf_token() }}">`) and fetches (header X-CSRF-Token).
    The login form's before a session exists; "" when there is neither."""
    the_gate = gate()
    if not the_gate.sessions_on:
        return ""
    token = the_gate.session_token()
    if token is not None:
        return the_gate.csrf_for("session", token)
    nonce: str | None = g.get("login_nonce") or the_gate.login_nonce()
    return the_gate.csrf_for("login", nonce) if nonce is not None else ""


def unauthenticated() -> Response:
    """401 (JSON) under /api; a redirect to the login page elsewhere."""
    if is_api(request.path):
        return error_response(
            401,
            "unauthorized",
            "sign in at /login, or send Authorization: Bearer <your API token> (signaldesk users token NAME)",
            {"WWW-Authenticate": 'Bearer realm="signaldesk"'},
        )
    target = request.full_path if request.query_string else request.path
    headers = Headers({"Location": f"/login?next={quote(target, safe='/')}"})
    return Response("", status=303, headers=headers)


def forbidden(caller: Caller, need: Role) -> Response:
    message = f"{caller.actor.name} may not do this: {need.value}s only (their role is {caller.role.value})"
    if is_api(request.path):
        return error_response(403, "forbidden", message)
    return Response(message, status=403, content_type="text/plain; charset=utf-8")


def require_role(role: Role) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R | Response]]]:
    """The view needs a signed-in person (or an API token) with at least `role`."""

    def decorate(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Response]]:
        @functools.wraps(view)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            caller = await gate().resolve()
            if caller is None:
                return unauthenticated()
            if not caller.may(role):
                return forbidden(caller, role)
            return await view(*args, **kwargs)

        return guarded

    return decorate


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a plain path on this site, else "/".

    Only printable ASCII without spaces or backslashes, starting with one "/": browsers drop
    tabs and newlines from a URL and read a backslash as "/", so "/<tab>/evil.com" or
    "/<backslash>evil.com" would leave the site; a control character cannot even go into a
    Location header (it was a 500, after the session was made).
    """
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(not "!" <= c <= "~" or c == "\\" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def redirect_to(target: str) -> Response:
    response: Response = redirect(target, 303)  # type: ignore[assignment]
    return response
