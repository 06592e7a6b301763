"""The web desk's Overview shows the desk's processes and which one leads (issue 26, item 7),
from the cluster: PostgreSQL's advisory locks name every live process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from db.cluster import PostgresCluster, SingleProcess
from db.database import Database
from tests.conftest import fresh_postgres_database, postgres_server_url
from tests.integration.test_web_auth import WebDesk
from tests.integration.test_web_pages import signed_in, text_of, words
from tests.integration.web_support import make_deps, make_services
from trading.domain.people import Role
from web.app import create_app


def web_desk(db: Database, **deps: Any) -> WebDesk:
    services = make_services(db)
    made = make_deps(db, services, **deps)
    assert made.people is not None
    return WebDesk(db, create_app(made), services, made.people)


async def test_the_overview_lists_the_processes_and_marks_the_leader(sqlite_database: Database) -> None:
    async def view() -> dict[str, Any]:
        return {"process": "desk-2:4711", "leader": False, "members": 3, "led_by": "desk-1:42"}

    async def processes() -> list[str]:
        return ["desk-1:42", "desk-2:4711", "desk-3:7"]

    desk = web_desk(sqlite_database, cluster_view=view, cluster_processes=processes)
    browser = await signed_in(desk, "vera", Role.VIEWER)
    html = await text_of(await browser.get("/"))
    text = words(html)
    assert "Processes desk-1:42 leads desk-2:4711 drew this page desk-3:7" in text


async def test_the_overview_says_nothing_of_processes_it_cannot_read(sqlite_database: Database) -> None:
    async def view() -> dict[str, Any]:
        raise ConnectionError("the cluster connection is down")

    async def processes() -> list[str]:
        return ["a:1"]

    desk = web_desk(sqlite_database, cluster_view=view, cluster_processes=processes)
    browser = await signed_in(desk, "vera", Role.VIEWER)
    page = await browser.get("/")
    assert page.status_code == 200 and "Processes" not in words(await text_of(page))


async def test_one_sqlite_process_is_the_whole_desk() -> None:
    assert await SingleProcess("h:1").processes() == ["h:1"]


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_server_url()) as url:
        yield url


async def test_every_live_process_is_named_and_a_closed_one_is_gone(pg_url: str) -> None:
    first = PostgresCluster(pg_url, "host-a:1", retry_seconds=0.1)
    second = PostgresCluster(pg_url, "host-b:2", retry_seconds=0.1)
    await first.start()
    await second.start()
    try:
        assert await second.processes() == ["host-a:1", "host-b:2"]
        await first.close()  # as when its process dies: its connection closes
        async with asyncio.timeout(10):  # PostgreSQL lets go when the backend has ended
            left = await second.processes()
            while left != ["host-b:2"]:
                await asyncio.sleep(0.02)
                left = await second.processes()
    finally:
        await first.close()
        await second.close()
