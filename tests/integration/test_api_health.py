"""GET /health: every component with its state, 200 when all are up, 503 naming what is down."""

from __future__ import annotations

import asyncio

import httpx

from db.database import Database
from tests.integration.web_support import make_deps, running
from web.app import create_app
from web.deps import Draining


async def test_all_up_is_200_with_every_component(sqlite_database: Database) -> None:
    async def database() -> tuple[bool, str]:
        await sqlite_database.ping()
        return True, "ok"

    async def up() -> tuple[bool, str]:
        return True, "connected"

    deps = make_deps(sqlite_database, health_checks={"database": database, "broker": up, "discord": up})
    async with running(create_app(deps)) as url, httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{url}/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "components": {
            "database": {"ok": True, "detail": "ok"},
            "broker": {"ok": True, "detail": "connected"},
            "discord": {"ok": True, "detail": "connected"},
        },
        "down": [],
    }


async def test_down_broken_and_hanging_components_make_it_503(sqlite_database: Database) -> None:
    async def up() -> tuple[bool, str]:
        return True, "ok"

    async def down() -> tuple[bool, str]:
        return False, "gateway disconnected"

    async def broken() -> tuple[bool, str]:
        raise ConnectionRefusedError("nope")

    async def hangs() -> tuple[bool, str]:
        await asyncio.sleep(30)
        return True, "late"

    checks = {"database": up, "discord": down, "broker": broken, "telegram": hangs}
    deps = make_deps(sqlite_database, health_checks=checks, health_timeout_seconds=0.2)
    client = create_app(deps).test_client()
    response = await client.get("/health")
    answer = await response.get_json()
    assert response.status_code == 503
    assert answer["status"] == "down"
    assert answer["down"] == ["discord", "broker", "telegram"]
    assert answer["components"]["database"] == {"ok": True, "detail": "ok"}
    assert answer["components"]["discord"] == {"ok": False, "detail": "gateway disconnected"}
    assert answer["components"]["broker"] == {"ok": False, "detail": "check failed: ConnectionRefusedError"}
    assert answer["components"]["telegram"] == {"ok": False, "detail": "no answer within 0.2 s"}


async def test_draining_reports_503(sqlite_database: Database) -> None:
    draining = Draining()
    draining.set()
    client = create_app(make_deps(sqlite_database, draining=draining)).test_client()
    response = await client.get("/health")
    assert response.status_code == 503
    assert (await response.get_json())["down"] == ["web"]
