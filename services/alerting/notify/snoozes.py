"""Snoozes that expire: a snoozed incident wakes to its previous status when its time is up.

While an incident is snoozed its update notifications are held (`routing.notify_incident`)
and escalation skips it (`escalation`, which only escalates open incidents). The housekeeper
wakes each incident whose `snoozed_until` has passed: back to `acknowledged` if someone had
acknowledged it, else `open`, with a `snooze_expired` event on the timeline. A severity that
rose during the snooze is notified then, once; escalation resumes, its remaining tiers
counted from the wake (`escalation.due_tiers`). One wake the database refuses (a data
error) still returns the incident to its status, without the notification, and notes why.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.incidents.schemas import status_after_snooze
from services.alerting.notify.routing import notify_incident
from shared.db.models import IncidentEventRow, IncidentRow
from shared.resilience import OnDbError, Refused, default_on_db_error, in_savepoint
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)
EXPIRED = "snooze_expired"


def rose(before: str | None, now: str) -> bool:
    """True when `now` is a worse severity than `before` (SEV1 is the worst)."""
    if before is None:
        return False
    return _rank(now) < _rank(before)


def _rank(level: str) -> int:
    return int(level[3:]) if level[3:].isdigit() else 9


async def _snoozed_at_severity(session: AsyncSession, incident_id: int) -> str | None:
    """The severity the incident had when it was last snoozed (None if not recorded)."""
    data = await session.scalar(
        select(IncidentEventRow.data)
        .where(IncidentEventRow.incident_id == incident_id, IncidentEventRow.kind == "snooze")
        .order_by(IncidentEventRow.id.desc())
        .limit(1)
    )
    value = (data or {}).get("severity")
    return value if isinstance(value, str) else None


async def wake_snoozed(
    session: AsyncSession,
    now: datetime,
    *,
    settings: NotifySettings,
    on_db_error: OnDbError = default_on_db_error,
) -> list[int]:
    """Return every incident whose snooze has expired to its previous status; return their ids."""
    due = (
        await session.scalars(
            select(IncidentRow)
            .where(IncidentRow.status == "snoozed", IncidentRow.snoozed_until <= now)
            .order_by(IncidentRow.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    woken: list[int] = []
    for incident in due:
        wake = functools.partial(_wake, session, incident, now, settings, notify=True)
        refused = await in_savepoint(session, wake, on_db_error=on_db_error)
        if isinstance(refused, Refused):
            error = f"database refused: {refused.reason}"
            log.error("incident %d: snooze expiry %s", incident.id, error)
            await _wake(session, incident, now, settings, notify=False, error=error)
        woken.append(incident.id)
    await session.flush()
    return woken


async def _wake(
    session: AsyncSession,
    incident: IncidentRow,
    now: datetime,
    settings: NotifySettings,
    *,
    notify: bool,
    error: str | None = None,
) -> None:
    """Return one incident to its previous status, note it, and notify a risen severity."""
    before = await _snoozed_at_severity(session, incident.id)
    status = status_after_snooze(incident.acknowledged_at)
    data = {
        "status": status,
        "until": incident.snoozed_until.isoformat() if incident.snoozed_until else None,
        "severity_at_snooze": before,
        "severity": incident.severity,
    }
    incident.status = status
    incident.snoozed_until = None
    incident.updated_at = now
    session.add(
        IncidentEventRow(
            incident_id=incident.id,
            at=now,  # escalation counts its remaining tiers from here
            kind=EXPIRED,
            actor="system",
            data={**data, "error": error} if error else data,
        )
    )
    await session.flush()
    if notify and rose(before, incident.severity):
        await notify_incident(
            session,
            incident.id,
            update_kind="severity_changed",
            settings=settings,
            note=f"Severity rose from {before} to {incident.severity} while snoozed",
        )
