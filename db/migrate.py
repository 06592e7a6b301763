"""Alembic, configured in code so it runs the same from the repository and an installed package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not a main option: ConfigParser would choke on a '%' in a password.
    cfg.attributes["url"] = url
    return cfg


def run_upgrade(connection: Any, revision: str = "head") -> None:
    """Upgrade over an open (sync-facing) connection; Database.upgrade runs it via run_sync."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(url: str) -> None:
    """`signaldesk db upgrade`: apply every migration to the database at `url`."""
    from db.database import Database

    database = Database(url)
    try:
        await database.upgrade()
    finally:
        await database.dispose()
