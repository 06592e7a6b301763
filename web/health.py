"""GET /health: every component with its state; 503 when any is down."""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, Response, jsonify
from quart_schema import document_response

from web.deps import HealthCheck, WebDeps
from web.models import HealthOut

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


def health_blueprint(deps: WebDeps) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/health")
    @document_response(HealthOut, 200)
    @document_response(HealthOut, 503)
    async def health() -> Response:
        """Component health (database, broker, Discord): 503 names what is down"""
        names = list(deps.health_checks)
        outcomes = await asyncio.gather(
            *(run_check(name, deps.health_checks[name], deps.health_timeout_seconds) for name in names)
        )
        components = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in zip(names, outcomes, strict=True)}
        if deps.draining.is_set():
            components["web"] = {"ok": False, "detail": "shutting down: new webhooks are refused"}
        down = [name for name, c in components.items() if not c["ok"]]
        response = jsonify({"status": "down" if down else "ok", "components": components, "down": down})
        response.status_code = 503 if down else 200
        return response

    return bp
