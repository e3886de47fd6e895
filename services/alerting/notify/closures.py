"""Announce closed incidents on the channels that announced their opening.

A responder resolves or dismisses an incident through the API (`incidents.work`); the
housekeeper then enqueues one `resolved` (or `dismissed`) message per channel that carried
the incident's opening notification (Slack, email, webhook: not the digest, whose entries
only list open incidents), with who closed it and why, through the same outbox. Each
closure is announced once (`closure_announced` on the timeline); one the database refuses
is recorded as `closure_announce_failed` with the reason and not tried again.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.notify.routing import notify_incident
from shared.db.models import IncidentEventRow, IncidentRow, OutboxRow
from shared.resilience import OnDbError, Refused, default_on_db_error, in_savepoint
from shared.settings.notify import CHANNELS, NotifySettings

log = logging.getLogger(__name__)

# A closure older than this when the housekeeper first sees it is history, not news.
ANNOUNCE_WITHIN = timedelta(days=1)
_SETTLED = ("closure_announced", "closure_announce_failed")
_OPENING_DELIVERED = ("pending", "sending", "sent")


def closure_note(incident: IncidentRow, event: IncidentEventRow | None) -> str:
    """Say who closed the incident and why."""
    who = f" by {event.actor}" if event is not None else ""
    if incident.dismissed_at is not None:
        return f"Dismissed as a false positive{who}: {incident.dismissal_reason or '-'}"
    resolution = (event.data or {}).get("resolution") if event is not None else None
    return f"Resolved{who}" + (f": {resolution}" if resolution else "")


async def _opening_channels(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(OutboxRow.incident_id, OutboxRow.channel)
        .where(
            OutboxRow.incident_id.in_(ids),
            OutboxRow.channel.in_(CHANNELS),
            OutboxRow.dedupe_key.like("incident:%:opened:%"),
            OutboxRow.status.in_(_OPENING_DELIVERED),
        )
        .order_by(OutboxRow.id)
    )
    out: dict[int, list[str]] = defaultdict(list)
    for incident_id, channel in rows.all():
        if incident_id is not None and channel not in out[incident_id]:
            out[incident_id].append(channel)
    return out


async def _closing_event(session: AsyncSession, incident_id: int) -> IncidentEventRow | None:
    return await session.scalar(
        select(IncidentEventRow)
        .where(
            IncidentEventRow.incident_id == incident_id,
            IncidentEventRow.kind.in_(("resolve", "dismiss")),
        )
        .order_by(IncidentEventRow.id.desc())
        .limit(1)
    )


async def announce_closures(
    session: AsyncSession,
    now: datetime,
    *,
    settings: NotifySettings,
    on_db_error: OnDbError = default_on_db_error,
) -> list[int]:
    """Enqueue the announcement of every recent closure not announced yet; return their ids."""
    settled = exists().where(
        IncidentEventRow.incident_id == IncidentRow.id, IncidentEventRow.kind.in_(_SETTLED)
    )
    incidents = (
        await session.scalars(
            select(IncidentRow)
            .where(
                IncidentRow.status == "resolved",
                IncidentRow.resolved_at >= now - ANNOUNCE_WITHIN,
                ~settled,
            )
            .order_by(IncidentRow.id)
        )
    ).all()
    if not incidents:
        return []
    opened = await _opening_channels(session, [i.id for i in incidents])
    enabled = settings.enabled_channels()
    announced: list[int] = []
    for incident in incidents:
        channels = [ch for ch in opened.get(incident.id, []) if ch in enabled]
        if not channels:
            # Nothing announced its opening (a digest entry, or no channel configured).
            session.add(
                IncidentEventRow(
                    incident_id=incident.id,
                    kind="closure_announced",
                    actor="system",
                    data={"channels": [], "dismissed": incident.dismissed_at is not None},
                )
            )
            continue
        announce = functools.partial(_announce, session, incident, channels, settings)
        refused = await in_savepoint(session, announce, on_db_error=on_db_error)
        if isinstance(refused, Refused):
            error = f"database refused: {refused.reason}"
            log.error("incident %d: closure announcement %s", incident.id, error)
            session.add(
                IncidentEventRow(
                    incident_id=incident.id,
                    kind="closure_announce_failed",
                    actor="system",
                    data={"error": error},
                )
            )
            continue
        announced.append(incident.id)
    await session.flush()
    return announced


async def _announce(
    session: AsyncSession, incident: IncidentRow, channels: list[str], settings: NotifySettings
) -> None:
    """Enqueue one closure's messages and note it on the timeline."""
    dismissed = incident.dismissed_at is not None
    closed_at = incident.resolved_at or incident.updated_at
    queued = await notify_incident(
        session,
        incident.id,
        update_kind="dismissed" if dismissed else "resolved",
        settings=settings,
        revision=f"{closed_at.timestamp():.0f}",
        channels=channels,
        note=closure_note(incident, await _closing_event(session, incident.id)),
    )
    session.add(
        IncidentEventRow(
            incident_id=incident.id,
            kind="closure_announced",
            actor="system",
            data={"channels": queued, "dismissed": dismissed},
        )
    )
    await session.flush()


async def announce_merge(
    session: AsyncSession, incident_id: int, *, into: int, settings: NotifySettings
) -> list[str]:
    """Say once, in the merged incident's own thread, that it continues as incident `into`.

    This is the merged incident's closure announcement: no `resolved` message follows.
    """
    queued = await notify_incident(
        session,
        incident_id,
        update_kind="merged",
        settings=settings,
        revision=f"into-{into}",
        note=f"Merged into incident #{into}: the same story continues there.",
    )
    session.add(
        IncidentEventRow(
            incident_id=incident_id,
            kind="closure_announced",
            actor="system",
            data={"channels": queued, "dismissed": False, "merged_into": into},
        )
    )
    await session.flush()
    return queued
