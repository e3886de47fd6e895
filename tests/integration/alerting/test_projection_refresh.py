"""An open incident keeps its story's newest projection and is re-graded by it, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.detect.forecast import project
from services.alerting.detect.signals import Refresh, Signal
from services.alerting.incidents import work
from services.alerting.incidents.severity import assess_severity
from services.alerting.incidents.store import record_signal, refresh_projection
from services.alerting.service import NotifyHooks
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, IncidentRow, OutboxRow, SignalRow
from tests.notify_fakes import notify_settings

HOUR = timedelta(hours=1)


def _projection(at: datetime, count: float, multiple: float | None = None) -> dict[str, object]:
    """A projection of `count` a bin where 5 are usual; `multiple` overrides its next 6 hours
    over the usual (what severity's projected step reads)."""
    recent = [(count, 5.0)] * 24
    data = project(at, recent, [60.0] * 24, bin_seconds=300).to_dict()
    return data if multiple is None else {**data, "usual_multiple": multiple}


def _signal(brand: str, at: datetime) -> Signal:
    return Signal(
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


async def _forget(db_engine: AsyncEngine, brand: str) -> None:
    """Delete the brand's signals and incidents (the test database is shared)."""
    async with transaction(db_engine) as session:
        await session.execute(delete(SignalRow).where(SignalRow.brand == brand))
        await session.execute(delete(IncidentRow).where(IncidentRow.brand == brand))


async def test_refresh_replaces_an_older_projection_and_keeps_a_newer_one(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"refresh-{unique}"
    at = datetime.now(UTC).replace(microsecond=0)
    signal = _signal(brand, at)
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
        await _forget(db_engine, brand)


async def test_a_refresh_projecting_a_tripling_raises_severity_once_and_never_lowers(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"regrade-{unique}"
    at = datetime.now(UTC).replace(microsecond=0)
    hooks = NotifyHooks(notify_settings(slack_webhook_url="http://127.0.0.1:9/hook"))
    try:
        async with transaction(db_engine) as session:
            change = await record_signal(session, _signal(brand, at), grouping_window=HOUR)
            await hooks(session, change)
        assert change.severity == "SEV3"
        for minutes, rise in ((15, 3.4), (30, 4.0), (45, 0.3)):
            refresh = Refresh(
                brand, "recall", at, _projection(at + timedelta(minutes=minutes), 60.0, rise)
            )
            async with transaction(db_engine) as session:
                for regraded in await refresh_projection(session, refresh):
                    await hooks(session, regraded)
        async with transaction(db_engine) as session:
            row = await session.get(IncidentRow, change.incident_id)
            assert row is not None
            events = (
                await session.scalars(
                    select(IncidentEventRow).where(
                        IncidentEventRow.incident_id == change.incident_id,
                        IncidentEventRow.kind == "severity_changed",
                    )
                )
            ).all()
            sent = (
                await session.scalars(
                    select(OutboxRow.dedupe_key).where(OutboxRow.incident_id == change.incident_id)
                )
            ).all()
        assert row.severity == "SEV2"  # one step for 3.4x, none more for 4.0x, kept at 0.3x
        assert row.details["projection"]["usual_multiple"] == 0.3
        assert [e.data["previous_severity"] for e in events] == ["SEV3"]
        reason = "projected to run at 3.4x its usual volume over the next 6 h"
        assert events[0].data["reasons"] == [reason]
        assert len([k for k in sent if ":severity_changed:" in k]) == 1
    finally:
        await _forget(db_engine, brand)


async def test_a_regrade_of_a_snoozed_incident_is_held_not_sent(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"regrade-snoozed-{unique}"
    at = datetime.now(UTC).replace(microsecond=0)
    hooks = NotifyHooks(notify_settings(slack_webhook_url="http://127.0.0.1:9/hook"))
    try:
        async with transaction(db_engine) as session:
            change = await record_signal(session, _signal(brand, at), grouping_window=HOUR)
            await work.snooze(session, incident_id=change.incident_id, minutes=60, actor="alice")
        refresh = Refresh(brand, "recall", at, _projection(at + timedelta(minutes=15), 60.0, 3.4))
        async with transaction(db_engine) as session:
            for regraded in await refresh_projection(session, refresh):
                await hooks(session, regraded)
        async with transaction(db_engine) as session:
            row = await session.get(IncidentRow, change.incident_id)
            kinds = (
                await session.scalars(
                    select(IncidentEventRow.kind).where(
                        IncidentEventRow.incident_id == change.incident_id
                    )
                )
            ).all()
            sent = (
                await session.scalars(
                    select(OutboxRow.dedupe_key).where(OutboxRow.incident_id == change.incident_id)
                )
            ).all()
        assert row is not None and row.severity == "SEV2"
        assert "severity_changed" in kinds and "notification_held" in kinds
        assert not [k for k in sent if ":severity_changed:" in k]
    finally:
        await _forget(db_engine, brand)
