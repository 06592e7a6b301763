"""The Quart application factory."""

from __future__ import annotations

from quart import Quart


def create_app() -> Quart:
    app = Quart("signaldesk")

    @app.get("/health")
    async def health() -> tuple[dict[str, object], int]:
        return {"status": "ok"}, 200

    return app
