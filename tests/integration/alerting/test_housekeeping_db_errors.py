"""Housekeeping rows the database refuses are settled with the reason, never retried forever.

A CHECK constraint (added NOT VALID for the test, dropped afterwards) makes PostgreSQL refuse
the outbox row of one incident's escalation, or of one overdue step, with SQLSTATE 23514:
that one is recorded as failed on the incident's timeline, the others go through, and the
next run does not try it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.escalation import escalate_unacknowledged
from services.alerting.playbooks import overdue_steps, start_playbook_run
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, OutboxRow, PlaybookRunRow, PlaybookStepRow
from tests.notify_fakes import notify_settings

MakeIncident = Callable[..., Coroutine[Any, Any, int]]
DETECTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def refusing(engine: AsyncEngine, name: str, pattern: str) -> AsyncIterator[None]:
    """While open, PostgreSQL refuses outbox rows whose dedupe key matches `pattern`."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"ALTER TABLE notification_outbox ADD CONSTRAINT {name} "
                f"CHECK (dedupe_key NOT LIKE '{pattern}') NOT VALID"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text(f"ALTER TABLE notification_outbox DROP CONSTRAINT IF EXISTS {name}")
            )


async def _events(engine: AsyncEngine, incident_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with transaction(engine) as session:
        rows = await session.execute(
            select(IncidentEventRow.kind, IncidentEventRow.data)
            .where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.id)
        )
        return [(kind, dict(data)) for kind, data in rows.all()]


async def _outbox_keys(engine: AsyncEngine, incident_id: int) -> list[str]:
    async with transaction(engine) as session:
        keys = await session.scalars(
            select(OutboxRow.dedupe_key).where(OutboxRow.incident_id == incident_id)
        )
        return list(keys.all())


async def test_a_refused_escalation_is_recorded_failed_and_the_others_escalate(
    db_engine: AsyncEngine, make_incident: MakeIncident, unique: str
) -> None:
    settings = notify_settings(
        slack_webhook_url="http://127.0.0.1:9/hook",
        escalation_tiers=[{"name": "duty_manager", "after_s": 600, "channels": ["slack"]}],
    )
    opened = datetime.now(UTC) - timedelta(minutes=15)
    refused = await make_incident(opened_at=opened)
    healthy = await make_incident(opened_at=opened)
    ours = {refused, healthy}
    now = datetime.now(UTC)

    async def escalate() -> list[tuple[int, str]]:
        async with transaction(db_engine) as session:
            result = await escalate_unacknowledged(session, now, settings=settings)
        return [pair for pair in result if pair[0] in ours]

    async with refusing(db_engine, f"refuse_{unique}", f"incident:{refused}:escalation:%"):
        assert await escalate() == [(healthy, "duty_manager")]
        assert await escalate() == []  # the refused one is settled, not retried
    assert await escalate() == []  # not even once the database would take it

    kinds = [kind for kind, _ in await _events(db_engine, refused)]
    assert kinds == ["escalation_failed"]
    (_, data), *_ = await _events(db_engine, refused)
    assert data["tier"] == "duty_manager"
    assert data["error"].startswith("database refused: 23514 CheckViolationError"), data
    assert await _outbox_keys(db_engine, refused) == []
    assert [kind for kind, _ in await _events(db_engine, healthy)] == ["escalated"]
    assert await _outbox_keys(db_engine, healthy) == [
        f"incident:{healthy}:escalation:duty_manager:slack"
    ]


async def test_a_refused_overdue_notice_is_recorded_failed_and_the_others_are_sent(
    db_engine: AsyncEngine, make_incident: MakeIncident, unique: str
) -> None:
    settings = notify_settings(slack_webhook_url="http://127.0.0.1:9/hook")
    refused = await make_incident(category="recall")
    healthy = await make_incident(category="recall")
    async with transaction(db_engine) as session:
        for incident_id in (refused, healthy):
            await start_playbook_run(session, incident_id, "recall", DETECTED)
        first_steps = {
            incident_id: await session.scalar(
                select(PlaybookStepRow.id)
                .join(PlaybookRunRow, PlaybookRunRow.id == PlaybookStepRow.run_id)
                .where(PlaybookRunRow.incident_id == incident_id)
                .order_by(PlaybookStepRow.position)
                .limit(1)
            )
            for incident_id in (refused, healthy)
        }
    ours = set(first_steps.values())
    later = DETECTED + timedelta(minutes=45)

    async def overdue(at: datetime) -> list[int]:
        async with transaction(db_engine) as session:
            notified = await overdue_steps(session, at, settings=settings)
        return [step for step in notified if step in ours]

    refused_step = first_steps[refused]
    async with refusing(db_engine, f"refuse_{unique}", f"step:{refused_step}:overdue:%"):
        assert await overdue(later) == [first_steps[healthy]]
        assert await overdue(later + timedelta(minutes=1)) == []
    assert await overdue(later + timedelta(minutes=2)) == []

    failed = [data for kind, data in await _events(db_engine, refused) if "overdue" in kind]
    assert len(failed) == 1 and failed[0]["step_id"] == refused_step
    assert failed[0]["error"].startswith("database refused: 23514"), failed[0]
    assert not [k for k in await _outbox_keys(db_engine, refused) if "overdue" in k]
    async with transaction(db_engine) as session:
        step = await session.get(PlaybookStepRow, refused_step)
    assert step is not None and step.overdue_notified_at is not None
    notified = [kind for kind, _ in await _events(db_engine, healthy) if "overdue" in kind]
    assert notified == ["step_overdue"]
    assert await _outbox_keys(db_engine, healthy) == [f"step:{first_steps[healthy]}:overdue:slack"]
