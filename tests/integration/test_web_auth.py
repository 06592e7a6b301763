"""People on the web desk: sign-in, sessions, CSRF, roles and the audit of every act.

The real app over a real SQLite database through Quart's test client (which keeps cookies
like a browser); people are added through the same service `signaldesk users` uses."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import quart.typing
from argon2 import PasswordHasher
from quart import Quart

from db.database import Database
from tests.integration.web_support import KEY, SystemClock, add_bot, make_deps, make_services
from trading.domain.people import Role
from trading.domain.records import AuditEntry
from trading.services.bootstrap import Services
from trading.services.people import CLI_ACTOR, People
from web.app import create_app
from web.auth import SESSION_COOKIE

PASSWORD = "correct horse battery staple"
BREAK_GLASS = "break-glass-token-0123456789abcdef"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)"')


class WebDesk:
    def __init__(self, db: Database, app: Quart, services: Services, people: People) -> None:
        self.db = db
        self.app = app
        self.use_cases = services.use_cases
        self.steps = services.use_cases.steps
        self.people = people

    def browser(self, address: str = "127.0.0.1") -> Browser:
        return Browser(self.app.test_client(), address)

    async def add(self, name: str, role: Role) -> None:
        result = await self.people.add(name, role, PASSWORD, CLI_ACTOR)
        assert result.ok, result.message

    async def token(self, name: str) -> str:
        result, token = await self.people.issue_token(name, CLI_ACTOR)
        assert result.ok and token is not None, result.message
        return token

    async def pending_signal(self) -> int:
        response = await self.app.test_client().post(
            f"/webhook/{KEY}", data=json.dumps({"action": "RSI_LONG_ENTRY", "price": 53210.5}).encode()
        )
        answer = await response.get_json()
        assert response.status_code == 200, answer
        signal_id: int = answer["signal_id"]
        await self.steps.advance(signal_id)
        return signal_id

    async def audit(self) -> list[AuditEntry]:
        async with self.db.uow(read_only=True) as uow:
            return list(reversed(await uow.audit.list(limit=100)))


class Browser:
    """One browser: its cookie jar, its client address, the CSRF token its page holds."""

    def __init__(self, client: quart.typing.TestClientProtocol, address: str) -> None:
        self.client = client
        self.scope = {"client": (address, 50000)}
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> Any:
        response = await self.client.get(path, scope_base=self.scope, **kw)
        text = (await response.get_data()).decode()
        if found := CSRF_INPUT.search(text) or CSRF_META.search(text):
            self.csrf = found.group(1)
        return response

    async def post(self, path: str, *, form: dict[str, str] | None = None, csrf: bool = True, **kw: Any) -> Any:
        fields = dict(form or {})
        if csrf:
            fields["csrf_token"] = self.csrf
        return await self.client.post(path, form=fields, scope_base=self.scope, **kw)

    async def post_json(self, path: str, body: Any = None, *, csrf: bool = True) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        data = json.dumps(body if body is not None else {}).encode()
        return await self.client.post(path, data=data, headers=headers, scope_base=self.scope)

    async def login(self, name: str, password: str = PASSWORD, next_path: str | None = None) -> Any:
        await self.get("/login")
        form = {"username": name, "password": password} | ({"next": next_path} if next_path else {})
        response = await self.post("/login", form=form)
        if response.status_code == 303:
            await self.get("/")  # the page's CSRF token is now the session's
        return response


@pytest.fixture
async def desk(sqlite_database: Database) -> WebDesk:
    services = make_services(sqlite_database)
    deps = make_deps(
        sqlite_database,
        services,
        api_token=BREAK_GLASS,
        login_max_failures=3,
        trusted_proxies=["10.9.9.9"],
        sign_ins=sqlite_database.uow,  # the limits in the database, as `signaldesk serve` has them
    )
    assert deps.people is not None
    await add_bot(sqlite_database, mode="approve")
    return WebDesk(sqlite_database, create_app(deps), services, deps.people)


async def test_pages_redirect_to_login_and_the_api_answers_401_without_a_session(desk: WebDesk) -> None:
    browser = desk.browser()
    page = await browser.get("/?tab=1")
    assert page.status_code == 303 and page.headers["Location"] == "/login?next=/%3Ftab%3D1"
    api = await browser.get("/api/bots")
    assert api.status_code == 401 and (await api.get_json())["error"]["code"] == "unauthorized"


async def test_the_login_page_has_a_csrf_field_no_inline_script_and_strict_headers(desk: WebDesk) -> None:
    browser = desk.browser()
    page = await browser.get("/login")
    html = (await page.get_data()).decode()
    assert page.status_code == 200 and browser.csrf
    assert "<script" not in html and "style=" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert 'href="/static/desk.css"' in html
    assert (await browser.get("/static/desk.css")).status_code == 200


async def test_login_sets_a_signed_httponly_strict_session_and_opens_pages_and_api(desk: WebDesk) -> None:
    await desk.add("alice", Role.VIEWER)
    browser = desk.browser()
    response = await browser.login("Alice", next_path="/api/bots")
    assert response.status_code == 303 and response.headers["Location"] == "/api/bots"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http, no trusted proxy: a Secure cookie would never come back
    home = await browser.get("/")
    assert home.status_code == 200 and "alice" in (await home.get_data()).decode()
    assert (await browser.get("/api/bots")).status_code == 200
    assert [(a.actor, a.action, a.allowed) for a in await desk.audit()][-1] == ("web:alice", "login", True)


async def test_the_cookie_is_secure_behind_a_trusted_proxy_saying_https_or_over_tls(desk: WebDesk) -> None:
    await desk.add("alice", Role.VIEWER)
    proxied = desk.browser("10.9.9.9")
    await proxied.get("/login")
    response = await proxied.post(
        "/login", form={"username": "alice", "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 303 and "Secure" in response.headers["Set-Cookie"]
    # The same header from anyone else is not believed.
    direct = desk.browser("10.1.1.1")
    await direct.get("/login")
    response = await direct.post(
        "/login", form={"username": "alice", "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 303 and "Secure" not in response.headers["Set-Cookie"]
    tls = desk.app.test_client()
    page = await tls.get("/login", scheme="https")
    token = CSRF_INPUT.search((await page.get_data()).decode())
    assert token is not None and "Secure" in page.headers["Set-Cookie"]


async def test_a_failed_login_answers_the_same_whatever_was_wrong(desk: WebDesk) -> None:
    await desk.add("alice", Role.APPROVER)
    await desk.add("carol", Role.APPROVER)
    assert (await desk.people.disable("carol", CLI_ACTOR)).ok
    browser = desk.browser()
    await browser.get("/login")
    answers = []
    for name, password in [("alice", "wrong password here"), ("nobody", PASSWORD), ("carol", PASSWORD)]:
        response = await browser.post("/login", form={"username": name, "password": password})
        headers = sorted((k, v) for k, v in response.headers.items() if k.lower() != "date")
        answers.append((response.status_code, headers, await response.get_data()))
    assert answers[0][0] == 401
    assert answers[0] == answers[1] == answers[2]
    assert b"wrong name or password" in answers[0][2]
    refused = [(a.actor, a.target, a.detail.split(";")[0]) for a in await desk.audit() if a.action == "login"]
    assert refused == [
        ("web:alice", "user:alice", "wrong password"),
        ("web:anonymous", "user:?", "unknown name"),
        ("web:carol", "user:carol", "disabled"),
    ]


async def test_failures_are_limited_per_address(desk: WebDesk) -> None:
    await desk.add("alice", Role.VIEWER)
    browser = desk.browser("10.0.0.7")
    for name in ("x1", "x2", "x3"):  # three names, one address
        assert (await browser.login(name, "not the password")).status_code == 401
    blocked = await browser.login("alice")  # the right password, too late
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert SESSION_COOKIE not in blocked.headers.get("Set-Cookie", "")
    assert (await desk.browser("10.0.0.8").login("alice")).status_code == 303  # another address may


async def proxied_login(desk: WebDesk, address: str, name: str, password: str) -> int:
    """A sign-in from `address`, as the trusted proxy 10.9.9.9 reports it."""
    browser = desk.browser("10.9.9.9")
    await browser.get("/login")
    response = await browser.post(
        "/login", form={"username": name, "password": password}, headers={"X-Forwarded-For": address}
    )
    return int(response.status_code)


async def test_a_name_locked_by_failures_elsewhere_still_lets_its_person_in(desk: WebDesk) -> None:
    # Issue 31, finding 5: five wrong passwords from five addresses locked the person out
    # from everywhere. The name's limit holds for the addresses that failed, not for others.
    await desk.add("alice", Role.ADMIN)
    assert await proxied_login(desk, "198.51.100.1", "alice", PASSWORD) == 303  # her usual address
    assert await proxied_login(desk, "198.51.100.1", "alice", "a typo") == 401
    for n in range(3):  # the limit is 3: one name, three guessing addresses
        assert await proxied_login(desk, f"203.0.113.{n}", "alice", "not the password") == 401
    # The guessers are held, even with the right password: their address failed for her.
    assert await proxied_login(desk, "203.0.113.0", "ALICE", PASSWORD) == 429
    # An address that has not failed gets one try; a wrong guess from it is then held too.
    assert await proxied_login(desk, "203.0.113.50", "alice", "one more guess") == 401
    assert await proxied_login(desk, "203.0.113.50", "alice", "and another") == 429
    # Alice gets in from an address she has not failed from, and from the one she used before.
    assert await proxied_login(desk, "203.0.113.99", "alice", PASSWORD) == 303
    assert await proxied_login(desk, "198.51.100.1", "alice", PASSWORD) == 303


async def test_a_post_without_the_csrf_token_is_refused_403(desk: WebDesk) -> None:
    await desk.add("root", Role.ADMIN)
    stranger = desk.browser()
    await stranger.get("/login")
    no_token = await stranger.post("/login", form={"username": "root", "password": PASSWORD}, csrf=False)
    assert no_token.status_code == 403  # even the login form
    browser = desk.browser()
    assert (await browser.login("root")).status_code == 303
    assert (await browser.post_json("/api/halt", {"reason": "x"}, csrf=False)).status_code == 403
    browser.csrf = "0" * 64
    assert (await browser.post_json("/api/halt", {"reason": "x"})).status_code == 403
    assert (await browser.post("/logout")).status_code == 403
    assert not (await desk.use_cases.queries.control()).halted
    await browser.get("/")
    halted = await browser.post_json("/api/halt", {"reason": "x"})
    assert halted.status_code == 200 and (await desk.use_cases.queries.control()).halted
    assert [(a.actor, a.action, a.allowed) for a in await desk.audit()][-1] == ("web:root", "halt", True)


async def test_logout_ends_the_session_even_for_a_copied_cookie(desk: WebDesk) -> None:
    await desk.add("alice", Role.VIEWER)
    browser = desk.browser()
    await browser.login("alice")
    copied = browser.client.cookie_jar  # type: ignore[attr-defined]
    stolen = next(c.value for c in copied if c.name == SESSION_COOKIE)
    out = await browser.post("/logout")
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert f"{SESSION_COOKIE}=;" in out.headers["Set-Cookie"]
    assert (await browser.get("/")).status_code == 303
    replay = await desk.app.test_client().get("/api/bots", headers={"Cookie": f"{SESSION_COOKIE}={stolen}"})
    assert replay.status_code == 401
    assert [a.action for a in await desk.audit()][-2:] == ["login", "logout"]


def session_of(browser: Browser) -> str:
    jar = browser.client.cookie_jar  # type: ignore[attr-defined]
    return str(next(c.value for c in jar if c.name == SESSION_COOKIE))


async def test_a_second_sign_in_in_the_same_browser_ends_the_first_session(desk: WebDesk) -> None:
    # Issue 31 (informational): the first session stayed valid, for whoever copied its cookie.
    await desk.add("alice", Role.ADMIN)
    await desk.add("bob", Role.VIEWER)
    browser = desk.browser()
    assert (await browser.login("alice")).status_code == 303
    first = session_of(browser)
    await browser.get("/")
    again = await browser.post("/login", form={"username": "bob", "password": PASSWORD})
    assert again.status_code == 303 and session_of(browser) != first
    replay = await desk.app.test_client().get("/api/bots", headers={"Cookie": f"{SESSION_COOKIE}={first}"})
    assert replay.status_code == 401
    home = await browser.get("/")
    assert home.status_code == 200 and "bob" in (await home.get_data()).decode()


async def test_a_state_changing_request_from_another_site_is_refused(desk: WebDesk) -> None:
    # Issue 31 (informational): an Origin naming another site is refused before the view runs.
    await desk.add("root", Role.ADMIN)
    browser = desk.browser()
    await browser.login("root")
    for origin in ("http://evil.example", "https://localhost.evil.example", "http://localhost:1"):
        refused = await browser.client.post(
            "/api/halt",
            data=b'{"reason": "x"}',
            headers={"X-CSRF-Token": browser.csrf, "Origin": origin},
            scope_base=browser.scope,
        )
        assert refused.status_code == 403, origin
        assert (await refused.get_json())["error"]["code"] == "foreign_origin"
        form = await browser.post("/halt", form={"reason": "x"}, headers={"Origin": origin})
        assert form.status_code == 403, origin
    assert not (await desk.use_cases.queries.control()).halted
    for origin in ("http://localhost", "null"):  # this site; "null" is left to the CSRF token
        allowed = await browser.client.post(
            "/api/halt",
            data=b'{"reason": "x"}',
            headers={"X-CSRF-Token": browser.csrf, "Origin": origin},
            scope_base=browser.scope,
        )
        assert allowed.status_code == 200, origin


async def test_a_cookie_request_with_an_authorization_header_still_needs_its_csrf_token(desk: WebDesk) -> None:
    # Issue 31 (informational): the CSRF exemption holds only when a bearer token is what
    # authenticates; a cookie is never used beside one.
    await desk.add("root", Role.ADMIN)
    browser = desk.browser()
    await browser.login("root")
    for header, status in (("Basic cm9vdDpwdw==", 403), ("Bearer ", 403), ("Bearer not-a-token", 401)):
        answer = await browser.client.post(
            "/api/halt", data=b'{"reason": "x"}', headers={"Authorization": header}, scope_base=browser.scope
        )
        assert answer.status_code == status, header
    assert not (await desk.use_cases.queries.control()).halted


async def test_a_viewer_may_not_approve_and_the_refusal_is_audited(desk: WebDesk) -> None:
    await desk.add("vera", Role.VIEWER)
    signal_id = await desk.pending_signal()
    browser = desk.browser()
    await browser.login("vera")
    refused = await browser.post_json(f"/api/signals/{signal_id}/approve")
    answer = await refused.get_json()
    assert refused.status_code == 403 and answer["code"] == "forbidden"
    assert "approvers only" in answer["message"]
    token = await desk.token("vera")
    by_token = await desk.app.test_client().post(
        f"/api/signals/{signal_id}/approve", headers={"Authorization": f"Bearer {token}"}, data=b"{}"
    )
    assert by_token.status_code == 403
    decisions = [(a.actor, a.action, a.allowed, a.detail) for a in await desk.audit() if a.action == "approve"]
    assert decisions == [
        ("web:vera", "approve", False, "role viewer; needs approver"),
        ("api:vera", "approve", False, "role viewer; needs approver"),
    ]
    assert (await desk.use_cases.queries.signal_view(signal_id)).signal.state.value == "pending_approval"  # type: ignore[union-attr]


@pytest.mark.parametrize("via", ["web", "api"])
async def test_an_approvers_approve_works_and_is_audited_with_their_name(desk: WebDesk, via: str) -> None:
    await desk.add("anna", Role.APPROVER)
    signal_id = await desk.pending_signal()
    if via == "web":
        browser = desk.browser()
        await browser.login("anna")
        response = await browser.post_json(f"/api/signals/{signal_id}/approve", {"quantity": 1})
    else:
        token = await desk.token("anna")
        response = await desk.app.test_client().post(
            f"/api/signals/{signal_id}/approve",
            headers={"Authorization": f"Bearer {token}"},
            data=json.dumps({"quantity": 1}).encode(),
        )
    answer = await response.get_json()
    assert response.status_code == 200 and answer["ok"], answer
    assert "approved by anna" in answer["message"]
    [entry] = [a for a in await desk.audit() if a.action == "approve"]
    assert (entry.actor, entry.target, entry.allowed) == (f"{via}:anna", f"signal:{signal_id}", True)


async def test_an_approver_may_not_halt_an_admin_may(desk: WebDesk) -> None:
    await desk.add("anna", Role.APPROVER)
    await desk.add("root", Role.ADMIN)
    anna, root = await desk.token("anna"), await desk.token("root")
    client = desk.app.test_client()
    refused = await client.post("/api/halt", headers={"Authorization": f"Bearer {anna}"}, data=b"{}")
    assert refused.status_code == 403 and "admins only" in (await refused.get_json())["message"]
    allowed = await client.post("/api/halt", headers={"Authorization": f"Bearer {root}"}, data=b"{}")
    assert allowed.status_code == 200
    halts = [(a.actor, a.allowed, a.detail) for a in await desk.audit() if a.action == "halt"]
    assert halts == [("api:anna", False, "role approver; needs admin"), ("api:root", True, "")]


async def test_the_break_glass_token_acts_as_admin_audited_as_such(desk: WebDesk) -> None:
    client = desk.app.test_client()
    response = await client.post("/api/halt", headers={"Authorization": f"Bearer {BREAK_GLASS}"}, data=b"{}")
    assert response.status_code == 200
    [entry] = [a for a in await desk.audit() if a.action == "halt"]
    assert (entry.actor, entry.allowed) == ("api:break-glass", True)
    # A bearer token needs no CSRF token: it is not sent by a browser on its own.
    resumed = await client.post("/api/resume", headers={"Authorization": f"Bearer {BREAK_GLASS}"}, data=b"{}")
    assert resumed.status_code == 200


async def test_a_disabled_persons_token_and_session_stop_working(desk: WebDesk) -> None:
    await desk.add("alice", Role.APPROVER)
    token = await desk.token("alice")
    browser = desk.browser()
    await browser.login("alice")
    client = desk.app.test_client()
    assert (await client.get("/api/bots", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert (await desk.people.disable("alice", CLI_ACTOR)).ok
    assert (await client.get("/api/bots", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert (await browser.get("/")).status_code == 303
    assert (await browser.login("alice")).status_code == 401


async def test_tokens_and_passwords_are_stored_only_hashed(desk: WebDesk) -> None:
    await desk.add("alice", Role.VIEWER)
    token = await desk.token("alice")
    browser = desk.browser()
    await browser.login("alice")
    session = next(c.value for c in browser.client.cookie_jar if c.name == SESSION_COOKIE)  # type: ignore[attr-defined]
    dump = []
    async with desk.db.engine.connect() as conn:
        for table in ("users", "api_tokens", "web_sessions", "audit_log"):
            rows = (await conn.exec_driver_sql(f"SELECT * FROM {table}")).all()
            dump.append(repr(rows))
    text = "\n".join(dump)
    assert PASSWORD not in text and token not in text and token.removeprefix("sd_") not in text
    assert session.split(".")[0] not in text
    assert "$argon2id$" in text


async def test_a_next_that_leaves_the_site_is_ignored(desk: WebDesk) -> None:
    await desk.add("alice", Role.VIEWER)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        browser = desk.browser()
        await browser.get("/login")
        answer = await browser.post("/login", form={"username": "alice", "password": PASSWORD, "next": target})
        assert answer.headers["Location"] == "/", target


BAD_NEXTS = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: x=1",
    "/\x00",
    "/\x0b/evil.example",
    "/\x0c/evil.example",
    "/ /evil.example",
    "/\u3000/evil.example",
    "/\x7f",
    "/\\\\evil.example",
]


async def test_a_next_holding_whitespace_or_a_control_character_goes_home_never_a_500(desk: WebDesk) -> None:
    # Issue 31, finding 2: "/\t/evil.com" went into Location (Chromium then left the site) and
    # "\n", "\r", "\x00"... answered 500 after the session was made.
    await desk.add("alice", Role.VIEWER)
    for target in BAD_NEXTS:
        browser = desk.browser()
        await browser.get("/login")
        answer = await browser.post("/login", form={"username": "alice", "password": PASSWORD, "next": target})
        assert (answer.status_code, answer.headers["Location"]) == (303, "/"), repr(target)
        signed_in = await browser.get("/login", query_string={"next": target})  # already signed in
        assert (signed_in.status_code, signed_in.headers["Location"]) == (303, "/"), repr(target)
    browser = desk.browser()
    await browser.get("/login")
    kept = await browser.post("/login", form={"username": "alice", "password": PASSWORD, "next": "/signals?bot=a%09b"})
    assert kept.headers["Location"] == "/signals?bot=a%09b"  # an escaped tab is just text in a path


async def test_a_hash_made_with_older_parameters_is_renewed_at_sign_in(sqlite_database: Database) -> None:
    clock = SystemClock()
    weak = People(sqlite_database.uow, clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    assert (await weak.add("alice", Role.VIEWER, PASSWORD, CLI_ACTOR)).ok
    stronger = People(sqlite_database.uow, clock, hasher=PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert await stronger.login("alice", "not the password", "127.0.0.1") is None
    async with sqlite_database.uow(read_only=True) as uow:
        before = await uow.people.credentials("alice")
    assert before is not None and "m=1024,t=1" in before.password_hash  # a failure changes nothing
    assert await stronger.login("alice", PASSWORD, "127.0.0.1") is not None
    async with sqlite_database.uow(read_only=True) as uow:
        after = await uow.people.credentials("alice")
    assert after is not None and "m=2048,t=2" in after.password_hash
    assert await stronger.login("alice", PASSWORD, "127.0.0.1") is not None
