"""An open incident keeps its story's newest projection, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.detect.forecast import project
from services.alerting.detect.signals import Refresh, Signal
from services.alerting.incidents.severity import assess_severity
from services.alerting.incidents.store import record_signal, refresh_projection
from shared.db.engine import transaction
from shared.db.models import IncidentRow, SignalRow


def _projection(at: datetime, count: float) -> dict[str, object]:
    recent = [(count, 5.0)] * 24
    return project(at, recent, [60.0] * 24, bin_seconds=300).to_dict()


async def test_refresh_replaces_an_older_projection_and_keeps_a_newer_one(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"refresh-{unique}"
    at = datetime.now(UTC).replace(microsecond=0)
    signal = Signal(
        brand=brand,
        topic="recall",
        story_topic="recall",
        rule="volume_spike",
        at=at,
        score=9.0,
        value=60.0,
        baseline=5.0,
        severity=assess_severity(magnitude=12.0),
        mentions=60,
        tipping_ingested_at=None,
        details={"projection": _projection(at, 60.0)},
    )
    try:
        async with transaction(db_engine) as session:
            change = await record_signal(session, signal, grouping_window=timedelta(hours=1))
        later = _projection(at + timedelta(minutes=15), 30.0)
        older = _projection(at - timedelta(minutes=15), 90.0)
        async with transaction(db_engine) as session:
            await refresh_projection(session, Refresh(brand, "recall", at, later))
            await refresh_projection(session, Refresh(brand, "recall", at, older))
            await refresh_projection(session, Refresh(brand, "delivery", at, older))
        async with db_engine.connect() as conn:
            row = (
                await conn.execute(select(IncidentRow).where(IncidentRow.id == change.incident_id))
            ).one()
        assert row.details["projection"] == later
        assert row.details["projection"]["last_hour"] == 360.0
    finally:
        async with transaction(db_engine) as session:
            await session.execute(delete(SignalRow).where(SignalRow.brand == brand))
            await session.execute(delete(IncidentRow).where(IncidentRow.brand == brand))
