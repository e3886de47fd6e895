"""Connector cursors in PostgreSQL (`connector_cursors`), so a restart resumes where it left."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import transaction
from shared.db.models import ConnectorCursorRow
from shared.errors import InfraError


class CursorStore(Protocol):
    """Where connectors keep their resume points (one JSON object per source key)."""

    async def get(self, source: str) -> dict[str, Any] | None:
        """The stored cursor of `source`, or None."""
        ...

    async def put(self, source: str, cursor: dict[str, Any]) -> None:
        """Store (replace) the cursor of `source`."""
        ...


class PgCursorStore:
    """`CursorStore` on the `connector_cursors` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, source: str) -> dict[str, Any] | None:
        """The stored cursor of `source`, or None."""
        try:
            async with transaction(self._engine) as session:
                row = await session.scalar(
                    select(ConnectorCursorRow.cursor).where(ConnectorCursorRow.source == source)
                )
        except (OSError, DBAPIError, OperationalError) as exc:
            raise InfraError(f"cannot read cursor {source!r}: {type(exc).__name__}") from exc
        return dict(row) if row is not None else None

    async def put(self, source: str, cursor: dict[str, Any]) -> None:
        """Upsert the cursor of `source`."""
        stmt = insert(ConnectorCursorRow).values(source=source, cursor=cursor)
        stmt = stmt.on_conflict_do_update(
            index_elements=[ConnectorCursorRow.source],
            set_={"cursor": stmt.excluded.cursor, "updated_at": func.now()},
        )
        try:
            async with transaction(self._engine) as session:
                await session.execute(stmt)
        except (OSError, DBAPIError, OperationalError) as exc:
            raise InfraError(f"cannot store cursor {source!r}: {type(exc).__name__}") from exc


class MemoryCursorStore:
    """`CursorStore` in a dict (replay and unit tests; lost at exit)."""

    def __init__(self) -> None:
        self.cursors: dict[str, dict[str, Any]] = {}

    async def get(self, source: str) -> dict[str, Any] | None:
        """The stored cursor of `source`, or None."""
        cursor = self.cursors.get(source)
        return dict(cursor) if cursor is not None else None

    async def put(self, source: str, cursor: dict[str, Any]) -> None:
        """Store the cursor of `source`."""
        self.cursors[source] = dict(cursor)
