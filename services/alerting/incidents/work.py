"""Incident work as used by the HTTP API: list, detail and the responder's status changes.

Status changes are validated against `TRANSITIONS` (an illegal one raises `Conflict`), every
change lands in the incident timeline and the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.incidents.schemas import (
    EventRead,
    IncidentDetail,
    IncidentPage,
    IncidentRead,
    IncidentStatus,
    ReviewIn,
    ReviewRead,
    SampleMention,
    SignalRead,
    status_after_snooze,
)
from services.alerting.playbooks.work import StatementRead, incident_statements
from shared.db.models import (
    IncidentEventRow,
    IncidentReviewRow,
    IncidentRow,
    MentionRow,
    SignalRow,
)
from shared.errors import Conflict, NotFound
from shared.http import audit

# Which status each action may start from; anything else is a 409.
TRANSITIONS: dict[str, frozenset[IncidentStatus]] = {
    "acknowledge": frozenset({"open", "snoozed"}),
    "snooze": frozenset({"open", "acknowledged", "snoozed"}),
    "resolve": frozenset({"open", "acknowledged", "snoozed"}),
    "assign": frozenset({"open", "acknowledged", "snoozed"}),
    "escalate": frozenset({"open", "acknowledged", "snoozed"}),
    # A resolved incident may still be judged a false positive afterwards (once).
    "dismiss": frozenset({"open", "acknowledged", "snoozed", "resolved"}),
}


class IncidentNotFound(NotFound):
    """No incident has the given id (HTTP 404 at the API's edge)."""


def _incident_read(row: IncidentRow) -> IncidentRead:
    return IncidentRead.model_validate(row, from_attributes=True)


async def _incident(session: AsyncSession, incident_id: int, *, lock: bool = False) -> IncidentRow:
    stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise IncidentNotFound(f"incident {incident_id} does not exist")
    return row


async def list_incidents(
    session: AsyncSession,
    *,
    statuses: Sequence[str] = (),
    brand: str | None = None,
    severity: str | None = None,
    opened_after: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> IncidentPage:
    """Incidents matching the filters, newest first, paginated by id."""
    conditions: list[ColumnElement[bool]] = []
    if statuses:
        conditions.append(IncidentRow.status.in_(list(statuses)))
    if brand:
        conditions.append(IncidentRow.brand == brand)
    if severity:
        conditions.append(IncidentRow.severity == severity)
    if opened_after is not None:
        conditions.append(IncidentRow.opened_at >= opened_after)
    if before_id is not None:
        conditions.append(IncidentRow.id < before_id)
    stmt = select(IncidentRow).where(*conditions).order_by(IncidentRow.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return IncidentPage(
        items=[_incident_read(r) for r in rows],
        next_before_id=rows[-1].id if more and rows else None,
    )


async def incident_detail(
    session: AsyncSession, *, incident_id: int, samples: int = 5
) -> IncidentDetail:
    """The incident with timeline, signals, top negative sample mentions and review."""
    row = await _incident(session, incident_id)
    events = (
        await session.scalars(
            select(IncidentEventRow)
            .where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.at, IncidentEventRow.id)
        )
    ).all()
    signals = (
        await session.scalars(
            select(SignalRow).where(SignalRow.incident_id == incident_id).order_by(SignalRow.at)
        )
    ).all()
    since = row.opened_at - timedelta(hours=1)
    until = row.resolved_at or datetime.now(UTC)
    conditions: list[ColumnElement[bool]] = [
        MentionRow.brands.contains([row.brand]),
        MentionRow.created_at >= since,
        MentionRow.created_at <= until,
        MentionRow.sentiment_label == "negative",
    ]
    if row.topic:
        conditions.append(MentionRow.topics.contains([row.topic]))
    mentions = (
        await session.scalars(
            select(MentionRow)
            .where(*conditions)
            .order_by(MentionRow.author_reach.desc().nulls_last(), MentionRow.created_at.desc())
            .limit(samples)
        )
    ).all()
    review = await session.get(IncidentReviewRow, incident_id)
    return IncidentDetail(
        **_incident_read(row).model_dump(),
        details=row.details or {},
        timeline=[EventRead.model_validate(e, from_attributes=True) for e in events],
        signals=[SignalRead.model_validate(s, from_attributes=True) for s in signals],
        samples=[SampleMention.model_validate(m, from_attributes=True) for m in mentions],
        review=ReviewRead.model_validate(review, from_attributes=True) if review else None,
        holding_statements=await incident_statements(session, row),
    )


async def holding_statements(session: AsyncSession, *, incident_id: int) -> list[StatementRead]:
    """The holding statements of the incident's playbook for its brand, main languages first."""
    return await incident_statements(session, await _incident(session, incident_id))


async def _transition(
    session: AsyncSession, row: IncidentRow, *, action: str, actor: str, data: dict[str, Any]
) -> None:
    if row.status not in TRANSITIONS[action]:
        raise Conflict(f"cannot {action} incident {row.id}: it is {row.status}")
    session.add(IncidentEventRow(incident_id=row.id, kind=action, actor=actor, data=data))
    row.updated_at = datetime.now(UTC)
    await audit.record(
        session, actor=actor, action=f"incident.{action}", target=f"incident:{row.id}", details=data
    )


async def acknowledge(session: AsyncSession, *, incident_id: int, actor: str) -> IncidentRead:
    """Acknowledge an open or snoozed incident."""
    row = await _incident(session, incident_id, lock=True)
    await _transition(session, row, action="acknowledge", actor=actor, data={})
    row.status = "acknowledged"
    row.acknowledged_at = row.acknowledged_at or datetime.now(UTC)
    row.snoozed_until = None
    await session.flush()
    return _incident_read(row)


async def assign(
    session: AsyncSession, *, incident_id: int, owner: str, actor: str
) -> IncidentRead:
    """Give an unresolved incident an owner."""
    row = await _incident(session, incident_id, lock=True)
    await _transition(
        session, row, action="assign", actor=actor, data={"owner": owner, "previous": row.owner}
    )
    row.owner = owner
    await session.flush()
    return _incident_read(row)


async def escalate(session: AsyncSession, *, incident_id: int, actor: str) -> IncidentRead:
    """Raise an unresolved incident's severity one step (SEV3 -> SEV2); SEV1 is a 409."""
    row = await _incident(session, incident_id, lock=True)
    rank = int(row.severity.removeprefix("SEV")) if row.severity[3:].isdigit() else 1
    if rank <= 1:
        raise Conflict(f"incident {incident_id} is already {row.severity}")
    raised = f"SEV{rank - 1}"
    await _transition(
        session, row, action="escalate", actor=actor, data={"from": row.severity, "to": raised}
    )
    row.severity = raised
    await session.flush()
    return _incident_read(row)


async def add_note(session: AsyncSession, *, incident_id: int, text: str, actor: str) -> EventRead:
    """Append a note to the incident timeline (allowed in every status)."""
    await _incident(session, incident_id)
    event = IncidentEventRow(incident_id=incident_id, kind="note", actor=actor, data={"text": text})
    session.add(event)
    await session.flush()
    await session.refresh(event)
    await audit.record(
        session,
        actor=actor,
        action="incident.note",
        target=f"incident:{incident_id}",
        details={"event_id": event.id},
    )
    return EventRead.model_validate(event, from_attributes=True)


async def snooze(
    session: AsyncSession, *, incident_id: int, minutes: int, actor: str
) -> IncidentRead:
    """Silence an unresolved incident for `minutes`: no updates, no escalation until then.

    When the time is up the housekeeper returns it to its previous status
    (`notify.snoozes`); the severity recorded here tells whether it rose meanwhile.
    """
    row = await _incident(session, incident_id, lock=True)
    until = datetime.now(UTC) + timedelta(minutes=minutes)
    previous = status_after_snooze(row.acknowledged_at)
    data = {"until": until.isoformat(), "previous": previous, "severity": row.severity}
    await _transition(session, row, action="snooze", actor=actor, data=data)
    row.status = "snoozed"
    row.snoozed_until = until
    await session.flush()
    return _incident_read(row)


async def resolve(
    session: AsyncSession, *, incident_id: int, resolution: str | None, actor: str
) -> IncidentRead:
    """Close an incident; a later signal for the story opens a new one."""
    row = await _incident(session, incident_id, lock=True)
    await _transition(
        session,
        row,
        action="resolve",
        actor=actor,
        data={"resolution": resolution} if resolution else {},
    )
    row.status = "resolved"
    row.resolved_at = datetime.now(UTC)
    row.snoozed_until = None
    await session.flush()
    return _incident_read(row)


async def dismiss(
    session: AsyncSession, *, incident_id: int, reason: str, actor: str
) -> IncidentRead:
    """Close an incident as a false positive, with the reason; counted per rule.

    An unresolved incident is resolved by it (its channels hear of it, like a resolution);
    a resolved one keeps its resolution time. A second dismissal is a 409.
    """
    row = await _incident(session, incident_id, lock=True)
    if row.dismissed_at is not None:
        raise Conflict(f"incident {incident_id} was already dismissed")
    await _transition(
        session, row, action="dismiss", actor=actor, data={"reason": reason, "rule": row.rule}
    )
    now = datetime.now(UTC)
    row.status = "resolved"
    row.resolved_at = row.resolved_at or now
    row.snoozed_until = None
    row.dismissed_at = now
    row.dismissal_reason = reason
    await session.flush()
    return _incident_read(row)


async def write_review(
    session: AsyncSession, *, incident_id: int, review: ReviewIn, actor: str
) -> ReviewRead:
    """Create or replace the post-incident review of a resolved incident."""
    row = await _incident(session, incident_id, lock=True)
    if row.status != "resolved":
        raise Conflict(f"incident {incident_id} is {row.status}: resolve it before the review")
    existing = await session.get(IncidentReviewRow, incident_id)
    if existing is None:
        existing = IncidentReviewRow(
            incident_id=incident_id,
            summary=review.summary,
            root_cause=review.root_cause,
            actions=review.actions,
            author=actor,
        )
        session.add(existing)
    else:
        existing.summary = review.summary
        existing.root_cause = review.root_cause
        existing.actions = review.actions
        existing.author = actor
    session.add(
        IncidentEventRow(
            incident_id=incident_id,
            kind="review",
            actor=actor,
            data={"summary": review.summary[:200]},
        )
    )
    await audit.record(
        session, actor=actor, action="incident.review", target=f"incident:{incident_id}"
    )
    await session.flush()
    await session.refresh(existing)
    return ReviewRead.model_validate(existing, from_attributes=True)
