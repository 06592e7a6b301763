"""Sign-in limits hold for the desk, not for each process: two web apps on one database
(two processes of one desk) share the count, so a guesser spreading attempts over them
gets no more guesses than from one."""

from __future__ import annotations

import asyncio

import pytest

from db.database import Database
from tests.integration.test_web_auth import PASSWORD, Browser
from tests.integration.web_support import make_deps
from trading.domain.people import Role
from trading.services.people import CLI_ACTOR
from web.app import create_app


@pytest.fixture
async def two_apps(database: Database) -> tuple[Browser, Browser]:
    """One browser on each of two apps, both from the guesser's address 10.0.0.7."""
    apps = [create_app(make_deps(database, login_max_failures=3, sign_ins=database.uow)) for _ in range(2)]
    deps = make_deps(database)
    assert deps.people is not None
    assert (await deps.people.add("alice", Role.VIEWER, PASSWORD, CLI_ACTOR)).ok
    return Browser(apps[0].test_client(), "10.0.0.7"), Browser(apps[1].test_client(), "10.0.0.7")


async def test_failures_on_one_process_count_on_the_other(two_apps: tuple[Browser, Browser]) -> None:
    here, there = two_apps
    assert (await here.login("x1", "not the password")).status_code == 401
    assert (await there.login("x2", "not the password")).status_code == 401
    assert (await here.login("x3", "not the password")).status_code == 401
    for browser in (here, there):  # three failures from the address, wherever they were made
        blocked = await browser.login("alice")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


async def test_guesses_at_once_over_both_processes_get_no_more_than_the_limit(
    database: Database, two_apps: tuple[Browser, Browser]
) -> None:
    here, there = two_apps
    await here.get("/login")
    await there.get("/login")

    async def guess(browser: Browser, n: int) -> int:
        form = {"username": "alice", "password": f"guess {n}", "csrf_token": browser.csrf}
        return int((await browser.client.post("/login", form=form, scope_base=browser.scope)).status_code)

    answers = await asyncio.gather(*(guess(here if n % 2 else there, n) for n in range(10)))
    assert answers.count(401) <= 3 and set(answers) <= {401, 429}
    assert answers.count(429) >= 7


async def test_a_sign_in_on_one_process_lets_its_address_in_on_the_other_when_the_name_is_locked(
    database: Database,
) -> None:
    apps = [
        create_app(make_deps(database, login_max_failures=3, sign_ins=database.uow, trusted_proxies=["10.9.9.9"]))
        for _ in range(2)
    ]
    deps = make_deps(database)
    assert deps.people is not None
    assert (await deps.people.add("alice", Role.VIEWER, PASSWORD, CLI_ACTOR)).ok

    async def login(app: int, address: str, password: str) -> int:
        browser = Browser(apps[app].test_client(), "10.9.9.9")
        await browser.get("/login")
        form = {"username": "alice", "password": password, "csrf_token": browser.csrf}
        response = await browser.client.post(
            "/login", form=form, scope_base=browser.scope, headers={"X-Forwarded-For": address}
        )
        return int(response.status_code)

    assert await login(0, "198.51.100.1", PASSWORD) == 303  # her usual address, on process 0
    assert await login(0, "198.51.100.1", "a typo") == 401
    for n in range(3):  # the name's limit reached from three guessing addresses, over both
        assert await login(n % 2, f"203.0.113.{n}", "not the password") == 401
    assert await login(1, "203.0.113.0", PASSWORD) == 429  # a guesser, held on the other process
    assert await login(1, "198.51.100.1", PASSWORD) == 303  # she signed in from there before
