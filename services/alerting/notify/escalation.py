"""Escalate incidents nobody acknowledged: notify the next contact tier, once per tier."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.notify.content import incident_links, incident_payloads
from services.alerting.notify.outbox import enqueue
from services.alerting.notify.summary import load_summary
from shared.db.models import IncidentEventRow, IncidentRow
from shared.settings.notify import EscalationTier, NotifySettings


def due_tiers(
    tiers: list[EscalationTier], opened_at: datetime, now: datetime, done: set[str]
) -> list[EscalationTier]:
    """Return the tiers whose delay has passed and that were not escalated to yet."""
    return [
        t for t in tiers if opened_at + timedelta(seconds=t.after_s) <= now and t.name not in done
    ]


def _target(payload: dict[str, Any], channel: str, tier: EscalationTier) -> dict[str, Any]:
    if channel == "slack" and tier.slack_channel:
        return {**payload, "channel": tier.slack_channel}
    if channel == "email" and tier.email_to:
        return {**payload, "to": list(tier.email_to)}
    return payload


async def escalate_unacknowledged(
    session: AsyncSession, now: datetime, *, settings: NotifySettings
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
        select(IncidentEventRow.incident_id, IncidentEventRow.data).where(
            IncidentEventRow.incident_id.in_([i.id for i in incidents]),
            IncidentEventRow.kind == "escalated",
        )
    )
    done: dict[int, set[str]] = {}
    for incident_id, data in events.all():
        done.setdefault(incident_id, set()).add(str(data.get("tier")))
    enabled = settings.enabled_channels()
    escalated: list[tuple[int, str]] = []
    for incident in incidents:
        pending = due_tiers(tiers, incident.opened_at, now, done.get(incident.id, set()))
        summary = await load_summary(session, incident.id) if pending else None
        if summary is None:
            continue
        links = incident_links(settings.api_base_url, incident.id, settings.grafana_url)
        minutes = int((now - incident.opened_at).total_seconds() // 60)
        for tier in pending:
            note = f"Not acknowledged after {minutes} min: escalated to {tier.name}"
            channels = [ch for ch in tier.channels if ch in enabled]
            payloads = incident_payloads(
                replace(summary, note=note), links, update_kind="escalated", channels=channels
            )
            for channel, payload in payloads.items():
                await enqueue(
                    session,
                    incident_id=incident.id,
                    channel=channel,
                    dedupe_key=f"incident:{incident.id}:escalation:{tier.name}:{channel}",
                    payload=_target(payload, channel, tier),
                )
            session.add(
                IncidentEventRow(
                    incident_id=incident.id,
                    kind="escalated",
                    actor="system",
                    data={"tier": tier.name, "channels": channels},
                )
            )
            escalated.append((incident.id, tier.name))
    await session.flush()
    return escalated
