"""GET/POST /login and POST /logout (the pages are in web/pages.py).

A failed sign-in answers the same page, status and headers whatever was wrong (no such
name, wrong password, disabled), after the same password-hashing work; attempts are
limited per client address and per name (web/login_limits.py; 429 past the limit, whatever
the password)."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, g, render_template, request
from quart_schema import hide

from trading.services.people import token_hash
from web.auth import Gate, redirect_to, safe_next

log = logging.getLogger("signaldesk.web.login")

FAILED = "wrong name or password"


def login_blueprint(gate: Gate) -> Blueprint:
    bp = Blueprint("login", __name__)

    def off() -> Response:
        return Response(
            "sign-in is off: this desk has no people database or secret key", 503, content_type="text/plain"
        )

    async def page(status: int, problem: str | None, next_path: str, headers: dict[str, str] | None = None) -> Response:
        response = Response("", status=status, headers=headers or {})
        if gate.login_nonce() is None:
            g.login_nonce = gate.new_login_nonce(response)
        html = await render_template("login.html", problem=problem, next_path=next_path)
        response.set_data(html)
        response.mimetype = "text/html"
        return response

    @bp.get("/login")
    @hide
    async def login_form() -> Response:
        if not gate.sessions_on:
            return off()
        next_path = safe_next(request.args.get("next"))
        if await gate.resolve() is not None and gate.session_token() is not None:
            return redirect_to(next_path)
        return await page(200, None, next_path)

    @bp.post("/login")
    @hide
    async def login() -> Response:
        # The CSRF token was checked before this view (web.auth.install).
        if not gate.sessions_on or gate.people is None:
            return off()
        form = await request.form
        name = form.get("username", "")
        password = form.get("password", "")
        next_path = safe_next(form.get("next"))
        address = gate.client()
        # Counted before the password is checked (web/login_limits.py): parallel requests
        # cannot get more guesses than the limits allow.
        attempt = await gate.limiter.begin(name, address)
        if isinstance(attempt, float):
            log.warning("sign-in refused: too many failures (from %s)", address)
            seconds = max(1, int(attempt + 0.999))
            return await page(
                429, f"too many failed sign-ins: try again in {seconds} s", next_path, {"Retry-After": str(seconds)}
            )
        session = await gate.people.login(name, password, address)
        if session is None:
            log.warning("sign-in failed (from %s)", address)
            return await page(401, FAILED, next_path)
        await gate.limiter.succeeded(attempt)
        await end_session_of_this_browser()  # a second sign-in in one browser ends the first
        log.info("%s signed in (from %s)", session.person.name, address)
        response = redirect_to(next_path)
        gate.set_session_cookie(response, session.token)
        gate.clear_login_cookie(response)
        return response

    async def end_session_of_this_browser() -> None:
        token = gate.session_token()
        if token is not None and gate.people is not None:
            person = await gate.people.session_person(token)
            await gate.people.logout(token, person)
            gate.streams.end_session(token_hash(token))  # its open event streams end now

    @bp.post("/logout")
    @hide
    async def logout() -> Response:
        await end_session_of_this_browser()
        response = redirect_to("/login")
        gate.clear_session_cookie(response)
        return response

    return bp
