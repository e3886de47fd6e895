"""Incident storage: one open incident per (brand, topic) story, with its timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal_column, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.models import IncidentEventRow, IncidentRow


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """The incident a signal landed in, and whether it was opened by that signal."""

    incident_id: int
    opened: bool


async def open_or_update(
    session: AsyncSession,
    *,
    brand: str,
    topic: str,
    rule: str,
    title: str,
    severity: str,
    score: float,
    category: str = "generic",
    details: dict[str, Any] | None = None,
) -> IncidentChange:
    """Open an incident for the story, or fold the signal into the open one (atomically)."""
    stmt = insert(IncidentRow).values(
        brand=brand,
        topic=topic,
        rule=rule,
        title=title,
        severity=severity,
        category=category,
        status="open",
        peak_score=score,
        signal_count=1,
        scope={},
        reasons=[],
        details=details or {},
    )
    upsert: Any = stmt.on_conflict_do_update(
        index_elements=["brand", "topic"],
        index_where=text("status <> 'resolved'"),
        set_={
            "signal_count": IncidentRow.signal_count + 1,
            "updated_at": func.now(),
            "peak_score": func.greatest(IncidentRow.peak_score, stmt.excluded.peak_score),
        },
    ).returning(IncidentRow.id, literal_column("(xmax = 0)").label("inserted"))
    row = (await session.execute(upsert)).one()
    change = IncidentChange(incident_id=int(row.id), opened=bool(row.inserted))
    session.add(
        IncidentEventRow(
            incident_id=change.incident_id,
            kind="opened" if change.opened else "signal",
            actor="system",
            data={"rule": rule, "score": score, **(details or {})},
        )
    )
    await session.flush()
    return change
