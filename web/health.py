"""GET /health: 200 when every component is up, 503 naming what is down.

A stranger (a load balancer, a container's health probe) learns the status and the names of
the parts that are down, nothing more; a signed-in person or an API token also gets each
component's detail (the database's size, the brokers' names, Discord's state)."""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, Response, jsonify
from quart_schema import document_response

from web.auth import Gate
from web.deps import HealthCheck, WebDeps
from web.schemas.answers import HealthOut

log = logging.getLogger("signaldesk.web.health")


async def run_check(name: str, check: HealthCheck, seconds: float) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(seconds):
            ok, detail = await check()
    except TimeoutError:
        return False, f"no answer within {seconds:g} s"
    except Exception as e:  # a broken check reports its component down; /health still answers
        log.warning("health check %s failed: %s: %s", name, type(e).__name__, e)
        return False, f"check failed: {type(e).__name__}"
    return bool(ok), str(detail)


async def _known(gate: Gate) -> bool:
    """Whether the caller is signed in or holds a token; a database that cannot answer that
    is itself down, and the answer then is the stranger's."""
    try:
        return await gate.resolve() is not None
    except Exception as e:
        log.warning("/health: could not tell who is asking (%s); answered as to a stranger", type(e).__name__)
        return False


async def _cluster(deps: WebDeps) -> dict[str, object]:
    assert deps.cluster_view is not None
    try:
        async with asyncio.timeout(deps.health_timeout_seconds):
            return dict(await deps.cluster_view())
    except Exception as e:  # the database's own check says why
        return {"error": f"unknown: {type(e).__name__}"}


def health_blueprint(deps: WebDeps, gate: Gate) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/health")
    @document_response(HealthOut, 200)
    @document_response(HealthOut, 503)
    async def health() -> Response:
        """Health: 503 names what is down; the components' details need a session or a token"""
        names = list(deps.health_checks)
        outcomes = await asyncio.gather(
            *(run_check(name, deps.health_checks[name], deps.health_timeout_seconds) for name in names)
        )
        components = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in zip(names, outcomes, strict=True)}
        if deps.draining.is_set():
            components["web"] = {"ok": False, "detail": "shutting down: new webhooks are refused"}
        down = [name for name, c in components.items() if not c["ok"]]
        answer: dict[str, object] = {"status": "down" if down else "ok", "down": down}
        if await _known(gate):
            answer["components"] = components
            if deps.cluster_view is not None:
                answer["cluster"] = await _cluster(deps)
        response = jsonify(answer)
        response.status_code = 503 if down else 200
        return response

    return bp
