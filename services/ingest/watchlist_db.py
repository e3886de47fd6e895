"""The stored watchlists (`watchlists` table) as ingest reads them: a fingerprint and rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.config_models import WatchlistRow
from shared.resilience import DB_ERRORS

# What a failed read of the stored watchlists raises (the caller keeps what it has).
READ_ERRORS: tuple[type[Exception], ...] = (OSError, *DB_ERRORS)

_FINGERPRINT = text(
    "SELECT coalesce(md5(string_agg(brand || '@' || updated_at::text, ',' ORDER BY brand)), '') "
    "FROM watchlists"
)


class PgWatchlists:
    """`StoredWatchlists` over PostgreSQL: one cheap aggregate per poll, rows on change."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def fingerprint(self) -> str:
        """md5 of every (brand, updated_at): any create, replace or delete changes it."""
        async with self._engine.connect() as conn:
            return str((await conn.execute(_FINGERPRINT)).scalar_one())

    async def definitions(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored (brand, definition)."""
        stmt = select(WatchlistRow.brand, WatchlistRow.definition).order_by(WatchlistRow.brand)
        async with self._engine.connect() as conn:
            return [(r.brand, dict(r.definition)) for r in (await conn.execute(stmt)).all()]
