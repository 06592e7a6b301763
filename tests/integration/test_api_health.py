"""GET /health: 200 when all are up, 503 naming what is down; each component's state and
detail only for a signed-in person or a token."""

from __future__ import annotations

import asyncio

import httpx

from db.database import Database
from tests.integration.web_support import make_deps, make_people, running
from trading.domain.people import Role
from trading.services.people import CLI_ACTOR
from web.app import create_app
from web.deps import Draining

TOKEN = "health-break-glass-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_all_up_is_200_with_every_component(sqlite_database: Database) -> None:
    async def database() -> tuple[bool, str]:
        await sqlite_database.ping()
        return True, "ok"

    async def up() -> tuple[bool, str]:
        return True, "connected"

    deps = make_deps(
        sqlite_database, health_checks={"database": database, "broker": up, "discord": up}, api_token=TOKEN
    )
    async with running(create_app(deps)) as url, httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{url}/health", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "down": [],
        "components": {
            "database": {"ok": True, "detail": "ok"},
            "broker": {"ok": True, "detail": "connected"},
            "discord": {"ok": True, "detail": "connected"},
        },
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
    deps = make_deps(sqlite_database, health_checks=checks, health_timeout_seconds=0.2, api_token=TOKEN)
    client = create_app(deps).test_client()
    response = await client.get("/health", headers=AUTH)
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


async def test_a_stranger_learns_the_status_alone_and_people_and_tokens_the_details(database: Database) -> None:
    # Issue 31, finding 9: anonymous callers saw the database size, broker names and Discord.
    async def size() -> tuple[bool, str]:
        return True, "ok; 123456 bytes (0.1 MiB)"

    async def brokers() -> tuple[bool, str]:
        return False, "Herenya: 401 bad key"

    people = make_people(database)
    assert (await people.add("vera", Role.VIEWER, "correct horse battery staple", CLI_ACTOR)).ok
    result, token = await people.issue_token("vera", CLI_ACTOR)
    assert result.ok and token is not None
    deps = make_deps(database, people=people, health_checks={"database": size, "broker": brokers})
    async with running(create_app(deps)) as url, httpx.AsyncClient(timeout=10) as client:
        stranger = await client.get(f"{url}/health")
        forged = await client.get(f"{url}/health", headers={"Authorization": "Bearer sd_not-a-token"})
        vera = await client.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"})
        login = await client.get(f"{url}/login")
        csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = await client.post(
            f"{url}/login", data={"username": "vera", "password": "correct horse battery staple", "csrf_token": csrf}
        )
        assert signed_in.status_code == 303
        browser = await client.get(f"{url}/health")  # the session cookie
    for answer in (stranger, forged):
        assert answer.status_code == 503
        assert answer.json() == {"status": "down", "down": ["broker"]}
        assert "123456" not in answer.text and "Herenya" not in answer.text
    for answer in (vera, browser):
        assert answer.status_code == 503
        assert answer.json()["components"]["broker"] == {"ok": False, "detail": "Herenya: 401 bad key"}
        assert answer.json()["components"]["database"]["detail"] == "ok; 123456 bytes (0.1 MiB)"


async def test_the_cluster_says_which_process_answers_and_who_leads_to_people_and_tokens_only(
    sqlite_database: Database,
) -> None:
    async def up() -> tuple[bool, str]:
        return True, "ok"

    async def view() -> dict[str, object]:
        return {"process": "desk-2:4711", "leader": False, "members": 3, "led_by": "desk-1:42"}

    deps = make_deps(sqlite_database, health_checks={"database": up}, api_token=TOKEN, cluster_view=view)
    async with running(create_app(deps)) as url, httpx.AsyncClient(timeout=10) as client:
        known = (await client.get(f"{url}/health", headers=AUTH)).json()
        stranger = (await client.get(f"{url}/health")).json()
    assert known["cluster"] == {"process": "desk-2:4711", "leader": False, "members": 3, "led_by": "desk-1:42"}
    assert stranger == {"status": "ok", "down": []}
