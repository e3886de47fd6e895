"""Connector cursors in PostgreSQL (`connector_cursors`), so a restart resumes where it left
and a replica taking a connector's lease over resumes where the previous holder stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.core.lease import Lease, holds
from services.ingest.lease_store import DB_ERRORS, LeaseLost, locked_row
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
        except DB_ERRORS as exc:
            raise InfraError(f"cannot read cursor {source!r}: {type(exc).__name__}") from exc
        return dict(row) if row is not None else None

    async def put(self, source: str, cursor: dict[str, Any]) -> None:
        """Upsert the cursor of `source`."""
        try:
            async with transaction(self._engine) as session:
                await session.execute(_upsert(source, cursor))
        except DB_ERRORS as exc:
            raise InfraError(f"cannot store cursor {source!r}: {type(exc).__name__}") from exc


class FencedCursorStore(PgCursorStore):
    """`PgCursorStore` whose writes need `lease` to be the connector's current grant.

    The check and the write share one transaction holding a shared lock on the lease row,
    so a takeover waits for a write in flight and then reads what it wrote. A write from a
    replica that lost the lease raises `LeaseLost` (after `on_lost`) and changes nothing.
    """

    def __init__(
        self, engine: AsyncEngine, lease: Lease, *, on_lost: Callable[[], None] | None = None
    ) -> None:
        super().__init__(engine)
        self.lease = lease
        self._on_lost = on_lost

    async def put(self, source: str, cursor: dict[str, Any]) -> None:
        """Upsert the cursor of `source` if the lease still holds; else raise `LeaseLost`."""
        try:
            async with transaction(self._engine) as session:
                row, _ = await locked_row(session, self.lease.source, exclusive=False)
                if holds(row, self.lease):
                    await session.execute(_upsert(source, cursor))
                    return
        except DB_ERRORS as exc:
            raise InfraError(f"cannot store cursor {source!r}: {type(exc).__name__}") from exc
        if self._on_lost is not None:
            self._on_lost()
        raise LeaseLost(
            f"cursor {source!r} not stored: the lease of {self.lease.source!r} "
            f"(token {self.lease.token}) is no longer held by {self.lease.holder!r}"
        )


def _upsert(source: str, cursor: dict[str, Any]) -> Insert:
    stmt = insert(ConnectorCursorRow).values(source=source, cursor=cursor)
    return stmt.on_conflict_do_update(
        index_elements=[ConnectorCursorRow.source],
        set_={"cursor": stmt.excluded.cursor, "updated_at": func.now()},
    )


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
