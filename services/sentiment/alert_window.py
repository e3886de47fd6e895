"""Brands inside an alert window: those with an incident that is not resolved.

The transformer re-scores every mention of such a brand (see `core/triage.py`); the worker
reads the set from PostgreSQL at most every `refresh_s` seconds, and a failed read keeps
the last known set (the window is a routing hint, never a reason to stop scoring).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.models import IncidentRow
from shared.resilience import DB_ERRORS, describe_db_error

log = logging.getLogger(__name__)


class AlertWindow:
    """The brands with an open (unresolved) incident, refreshed on demand."""

    def __init__(self, engine: AsyncEngine, *, refresh_s: float = 15.0) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        self._read_at = float("-inf")
        self.brands: frozenset[str] = frozenset()

    async def current(self) -> frozenset[str]:
        """The set, re-read from the database when older than `refresh_s`."""
        now = time.monotonic()
        if now - self._read_at >= self._refresh_s:
            self._read_at = now
            try:
                async with self._engine.connect() as conn:
                    rows = await conn.execute(
                        select(IncidentRow.brand).where(IncidentRow.status != "resolved").distinct()
                    )
                    self.brands = frozenset(str(b) for (b,) in rows)
            except DB_ERRORS as exc:
                log.warning("alert window not refreshed (%s)", describe_db_error(exc))
        return self.brands
