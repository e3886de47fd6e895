"""Playbook runs in the database: steps with due times, overdue owners re-notified once."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.playbooks import overdue_steps, playbook_for, start_playbook_run
from shared.db.engine import transaction
from shared.db.models import IncidentRow, OutboxRow, PlaybookStepRow
from tests.notify_fakes import notify_settings

MakeIncident = Callable[..., Coroutine[Any, Any, int]]
DETECTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_run_has_steps_with_due_times(
    db_engine: AsyncEngine, make_incident: MakeIncident
) -> None:
    incident_id = await make_incident(category="recall")
    async with transaction(db_engine) as session:
        run_id = await start_playbook_run(session, incident_id, "recall", DETECTED)
        again = await start_playbook_run(session, incident_id, "recall", DETECTED)
        steps = (
            await session.scalars(
                select(PlaybookStepRow)
                .where(PlaybookStepRow.run_id == run_id)
                .order_by(PlaybookStepRow.position)
            )
        ).all()
        incident = await session.get(IncidentRow, incident_id)
    assert again == run_id
    book = playbook_for("recall")
    assert [s.due_at for s in steps] == [DETECTED + st.due_after for st in book.steps]
    assert steps[0].due_at <= DETECTED + timedelta(hours=1)
    assert incident is not None and incident.playbook == "recall"


async def test_overdue_step_is_renotified_once(
    db_engine: AsyncEngine, make_incident: MakeIncident
) -> None:
    settings = notify_settings(
        slack_webhook_url="http://127.0.0.1:9/hook",
        role_contacts={"legal_counsel": {"slack_channel": "#legal"}},
    )
    incident_id = await make_incident(category="recall")
    async with transaction(db_engine) as session:
        await start_playbook_run(session, incident_id, "recall", DETECTED)
    later = DETECTED + timedelta(minutes=45)
    async with transaction(db_engine) as session:
        first = await overdue_steps(session, later, settings=settings)
    async with transaction(db_engine) as session:
        second = await overdue_steps(session, later + timedelta(minutes=1), settings=settings)
        rows = (
            await session.scalars(select(OutboxRow).where(OutboxRow.incident_id == incident_id))
        ).all()
    assert len(first) == 1 and second == []
    (row,) = rows
    assert row.channel == "slack" and row.dedupe_key == f"step:{first[0]}:overdue:slack"
    assert row.payload["channel"] == "#legal"
    assert "Overdue playbook step" in row.payload["text"]
