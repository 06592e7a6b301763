"""Alembic, configured in code so it runs the same from the repository and an installed package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("signaldesk.db")


def _quiet_alembic() -> None:
    # Alembic logs its plugins and dialect at INFO on every start (some on import, hence
    # the lazy imports below); one line of ours says what changed instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(url: str | None = None) -> Config:
    _quiet_alembic()
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not a main option: ConfigParser would choke on a '%' in a password.
    cfg.attributes["url"] = url
    return cfg


def run_upgrade(connection: Any, revision: str = "head") -> None:
    """Upgrade over an open (sync-facing) connection; Database.upgrade runs it via run_sync."""
    cfg = alembic_config()
    from alembic import command
    from alembic.migration import MigrationContext

    before = MigrationContext.configure(connection).get_current_revision()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
    after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


async def upgrade(url: str) -> None:
    """`signaldesk db upgrade`: apply every migration to the database at `url`."""
    from db.database import Database

    database = Database(url)
    try:
        await database.upgrade()
    finally:
        await database.dispose()
