"""`crisiswatch db upgrade`: apply Alembic migrations to the configured database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.settings.common import CommonSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(
    settings: CommonSettings, *, database: str | None = None, revision: str = "head"
) -> None:
    """Migrate the database to `revision` (default: the newest)."""
    command.upgrade(alembic_config(settings.database_url(database)), revision)


def downgrade(settings: CommonSettings, *, database: str | None = None, revision: str) -> None:
    """Migrate the database down to `revision`."""
    command.downgrade(alembic_config(settings.database_url(database)), revision)
