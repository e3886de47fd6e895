"""Escalate incidents nobody acknowledged: notify the next contact tier, once per tier.

Each (incident, tier) is escalated in its own savepoint: one the database refuses (a data
error) is recorded as `escalation_failed` with the reason and not tried again. A snoozed
incident is not escalated; once its snooze expires (`snoozes`), the tiers not reached yet
count from the wake, so the responders get each tier's full delay again instead of every
overdue tier at once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.notify.content import (
    IncidentSummary,
    Links,
    incident_payloads,
)
from services.alerting.notify.links import notification_links
from services.alerting.notify.outbox import enqueue
from services.alerting.notify.snoozes import EXPIRED
from services.alerting.notify.summary import load_summary
from services.alerting.notify.threads import note_thread, threaded
from shared.db.models import IncidentEventRow, IncidentRow
from shared.resilience import OnDbError, Refused, default_on_db_error, in_savepoint
from shared.settings.notify import EscalationTier, NotifySettings

log = logging.getLogger(__name__)
# Timeline kinds that settle a tier: escalated, or refused by the database for good.
_SETTLED = ("escalated", "escalation_failed")


def due_tiers(
    tiers: list[EscalationTier], since: datetime, now: datetime, done: set[str]
) -> list[EscalationTier]:
    """Return the tiers whose delay since `since` has passed and that were not escalated to.

    `since` is when the incident opened, or when its last snooze expired.
    """
    return [t for t in tiers if since + timedelta(seconds=t.after_s) <= now and t.name not in done]


def _target(payload: dict[str, Any], channel: str, tier: EscalationTier) -> dict[str, Any]:
    if channel == "slack" and tier.slack_channel:
        return {**payload, "channel": tier.slack_channel}
    if channel == "email" and tier.email_to:
        return {**payload, "to": list(tier.email_to)}
    return payload


async def escalate_unacknowledged(
    session: AsyncSession,
    now: datetime,
    *,
    settings: NotifySettings,
    on_db_error: OnDbError = default_on_db_error,
) -> list[tuple[int, str]]:
    """Enqueue escalations for unacknowledged incidents; return (incident id, tier) pairs."""
    tiers = settings.escalation_tiers
    if not tiers:
        return []
    first = timedelta(seconds=tiers[0].after_s)
    incidents = (
        await session.scalars(
            select(IncidentRow).where(
                IncidentRow.acknowledged_at.is_(None),
                IncidentRow.status == "open",
                IncidentRow.opened_at <= now - first,
                or_(IncidentRow.snoozed_until.is_(None), IncidentRow.snoozed_until <= now),
            )
        )
    ).all()
    if not incidents:
        return []
    events = await session.execute(
        select(
            IncidentEventRow.incident_id,
            IncidentEventRow.kind,
            IncidentEventRow.at,
            IncidentEventRow.data,
        ).where(
            IncidentEventRow.incident_id.in_([i.id for i in incidents]),
            IncidentEventRow.kind.in_((*_SETTLED, EXPIRED)),
        )
    )
    done: dict[int, set[str]] = {}
    woke: dict[int, datetime] = {}  # the last expiry of a snooze
    for incident_id, kind, at, data in events.all():
        if kind == EXPIRED:
            woke[incident_id] = max(at, woke.get(incident_id, at))
        else:
            done.setdefault(incident_id, set()).add(str(data.get("tier")))
    escalated: list[tuple[int, str]] = []
    for incident in incidents:
        incident_id = incident.id
        since = max(incident.opened_at, woke.get(incident_id, incident.opened_at))
        pending = due_tiers(tiers, since, now, done.get(incident_id, set()))
        summary = await load_summary(session, incident_id) if pending else None
        if summary is None:
            continue
        links = notification_links(settings, incident_id)
        minutes = int((now - incident.opened_at).total_seconds() // 60)
        for tier in pending:
            note = f"Not acknowledged after {minutes} min: escalated to {tier.name}"
            escalate = functools.partial(
                _escalate, session, replace(summary, note=note), links, tier, settings
            )
            refused = await in_savepoint(session, escalate, on_db_error=on_db_error)
            if isinstance(refused, Refused):
                error = f"database refused: {refused.reason}"
                log.error("incident %d: escalation to %s %s", incident_id, tier.name, error)
                session.add(
                    IncidentEventRow(
                        incident_id=incident_id,
                        kind="escalation_failed",
                        actor="system",
                        data={"tier": tier.name, "error": error},
                    )
                )
                continue
            escalated.append((incident_id, tier.name))
    await session.flush()
    return escalated


async def _escalate(
    session: AsyncSession,
    summary: IncidentSummary,
    links: Links,
    tier: EscalationTier,
    settings: NotifySettings,
) -> None:
    """Enqueue one tier's escalation of an incident and note it on the timeline."""
    channels = [ch for ch in tier.channels if ch in settings.enabled_channels()]
    payloads = incident_payloads(summary, links, update_kind="escalated", channels=channels)
    incident = await session.get(IncidentRow, summary.id)
    for channel, payload in payloads.items():
        dedupe_key = f"incident:{summary.id}:escalation:{tier.name}:{channel}"
        # In the incident's thread (a Slack reply also shown in the channel: it pages).
        body = _target(threaded(incident, channel, payload, broadcast=True), channel, tier)
        row = await enqueue(
            session, incident_id=summary.id, channel=channel, dedupe_key=dedupe_key, payload=body
        )
        if row is not None:
            note_thread(incident, channel, body, dedupe_key=dedupe_key)
    session.add(
        IncidentEventRow(
            incident_id=summary.id,
            kind="escalated",
            actor="system",
            data={"tier": tier.name, "channels": channels},
        )
    )
