"""Playbook runs in the database: start one per incident, re-notify owners of overdue steps."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.notify.digests import notice_payloads
from services.alerting.notify.links import notification_links
from services.alerting.notify.outbox import enqueue
from services.alerting.notify.threads import note_thread, threaded
from services.alerting.playbooks.loader import playbook_for
from services.alerting.playbooks.models import Playbook
from services.alerting.playbooks.store import active_playbooks
from shared.db.models import IncidentEventRow, IncidentRow, PlaybookRunRow, PlaybookStepRow
from shared.resilience import OnDbError, Refused, default_on_db_error, in_savepoint
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)


async def start_playbook_run(
    session: AsyncSession,
    incident_id: int,
    category: str,
    detected_at: datetime,
    *,
    playbooks: dict[str, Playbook] | None = None,
) -> int:
    """Start the category's playbook for an incident (once); return the run id.

    Without `playbooks`, the playbooks in force (stored, else packaged) are used.
    """
    existing = await session.scalar(
        select(PlaybookRunRow.id).where(PlaybookRunRow.incident_id == incident_id).limit(1)
    )
    if existing is not None:
        return int(existing)
    playbook = playbook_for(category, playbooks or await active_playbooks(session))
    return await _create_run(session, incident_id, playbook, detected_at, kind="playbook_started")


async def switch_playbook_run(
    session: AsyncSession,
    incident_id: int,
    category: str,
    at: datetime,
    *,
    playbooks: dict[str, Playbook] | None = None,
) -> int:
    """Move an incident to its new category's playbook; pending steps of the old one lapse."""
    playbook = playbook_for(category, playbooks or await active_playbooks(session))
    runs = (
        await session.execute(
            select(PlaybookRunRow.id, PlaybookRunRow.playbook)
            .where(PlaybookRunRow.incident_id == incident_id)
            .order_by(PlaybookRunRow.id.desc())
        )
    ).all()
    if runs and runs[0].playbook == playbook.name:
        return int(runs[0].id)
    if runs:
        await session.execute(
            update(PlaybookStepRow)
            .where(
                PlaybookStepRow.run_id.in_([r.id for r in runs]),
                PlaybookStepRow.status == "pending",
            )
            .values(status="superseded")
        )
    return await _create_run(session, incident_id, playbook, at, kind="playbook_switched")


async def _create_run(
    session: AsyncSession, incident_id: int, playbook: Playbook, detected_at: datetime, *,
    kind: str,
) -> int:  # fmt: skip
    run = PlaybookRunRow(incident_id=incident_id, playbook=playbook.name, started_at=detected_at)
    session.add(run)
    await session.flush()
    for position, step in enumerate(playbook.steps, start=1):
        session.add(
            PlaybookStepRow(
                run_id=run.id,
                position=position,
                title=step.title,
                owner_role=step.owner_role,
                due_at=detected_at + step.due_after,
                status="pending",
                details={"channels": list(step.channels), "description": step.description},
            )
        )
    await session.execute(
        update(IncidentRow).where(IncidentRow.id == incident_id).values(playbook=playbook.name)
    )
    session.add(
        IncidentEventRow(
            incident_id=incident_id,
            kind=kind,
            actor="system",
            data={"playbook": playbook.name, "run_id": run.id},
        )
    )
    await session.flush()
    return int(run.id)


def _with_target(payload: dict[str, Any], channel: str, role: str, s: NotifySettings) -> None:
    contact = s.role_contacts.get(role)
    if contact is None:
        return
    if channel == "slack" and contact.slack_channel:
        payload["channel"] = contact.slack_channel
    if channel == "email" and contact.email_to:
        payload["to"] = list(contact.email_to)


async def overdue_steps(
    session: AsyncSession,
    now: datetime,
    *,
    settings: NotifySettings,
    on_db_error: OnDbError = default_on_db_error,
) -> list[int]:
    """Notify the owners of pending steps past due (once each); return the step ids.

    Each step is handled in its own savepoint: one whose notice the database refuses (a data
    error) is marked notified with a `step_overdue_failed` event and not tried again.
    """
    stmt = (
        select(PlaybookStepRow, IncidentRow)
        .join(PlaybookRunRow, PlaybookRunRow.id == PlaybookStepRow.run_id)
        .join(IncidentRow, IncidentRow.id == PlaybookRunRow.incident_id)
        .where(
            PlaybookStepRow.status == "pending",
            PlaybookStepRow.due_at <= now,
            PlaybookStepRow.overdue_notified_at.is_(None),
            IncidentRow.status != "resolved",
        )
        .order_by(PlaybookStepRow.due_at)
        .with_for_update(of=PlaybookStepRow, skip_locked=True)
    )
    notified: list[int] = []
    for step, incident in (await session.execute(stmt)).all():
        step_id, incident_id = step.id, incident.id
        notify = functools.partial(_notify_overdue, session, step, incident, now, settings)
        refused = await in_savepoint(session, notify, on_db_error=on_db_error)
        if isinstance(refused, Refused):
            error = f"database refused: {refused.reason}"
            log.error("overdue step %d of incident %d: %s", step_id, incident_id, error)
            # The step object was expired with the savepoint: update the row by id.
            await session.execute(
                update(PlaybookStepRow)
                .where(PlaybookStepRow.id == step_id)
                .values(overdue_notified_at=now)
                .execution_options(synchronize_session=False)
            )
            session.add(
                IncidentEventRow(
                    incident_id=incident_id,
                    kind="step_overdue_failed",
                    actor="system",
                    data={"step_id": step_id, "error": error},
                )
            )
            continue
        notified.append(step_id)
    await session.flush()
    return notified


async def _notify_overdue(
    session: AsyncSession,
    step: PlaybookStepRow,
    incident: IncidentRow,
    now: datetime,
    settings: NotifySettings,
) -> None:
    """Enqueue the overdue notice of one step, mark it notified, note it on the timeline."""
    channels = [ch for ch in settings.overdue_channels if ch in settings.enabled_channels()]
    links = notification_links(settings, incident.id)
    headline = f"Overdue playbook step for {incident.brand}: {step.title}"
    lines = [
        f"Owner: {step.owner_role}",
        f"Due: {step.due_at:%Y-%m-%d %H:%M} UTC",
        f"Incident #{incident.id} ({incident.severity}): {incident.title}",
    ]
    payloads = notice_payloads(headline, lines, links, channels=channels)
    for channel, payload in payloads.items():
        _with_target(payload, channel, step.owner_role, settings)
        dedupe_key = f"step:{step.id}:overdue:{channel}"
        body = threaded(incident, channel, payload)
        row = await enqueue(
            session, incident_id=incident.id, channel=channel, dedupe_key=dedupe_key, payload=body
        )
        if row is not None:
            note_thread(incident, channel, body, dedupe_key=dedupe_key)
    step.overdue_notified_at = now
    session.add(
        IncidentEventRow(
            incident_id=incident.id,
            kind="step_overdue",
            actor="system",
            data={"step_id": step.id, "title": step.title, "owner_role": step.owner_role},
        )
    )
