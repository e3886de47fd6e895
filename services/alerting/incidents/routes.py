"""HTTP routes of incident work: list, detail, status changes, notes and the review."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from services.alerting.incidents import work
from services.alerting.incidents.metrics import IncidentMetricsDep
from services.alerting.incidents.schemas import (
    AssignIn,
    DismissIn,
    EventRead,
    IncidentDetail,
    IncidentPage,
    IncidentRead,
    IncidentStatus,
    NoteIn,
    ResolveIn,
    ReviewIn,
    ReviewRead,
    SnoozeIn,
)
from services.alerting.playbooks.work import StatementRead
from services.alerting.schemas import BrandQ, Id
from shared.http.deps import Responder, SessionDep

router = APIRouter()


@router.get("/incidents", tags=["incidents"], summary="List incidents (role responder)")
async def list_incidents(
    session: SessionDep,
    _: Responder,
    status: Annotated[list[IncidentStatus] | None, Query(max_length=4)] = None,
    brand: BrandQ = None,
    severity: Annotated[str | None, Query(pattern=r"^SEV[1-4]$")] = None,
    opened_after: AwareDatetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentPage:
    """Incidents, newest first."""
    return await work.list_incidents(
        session,
        statuses=status or [],
        brand=brand,
        severity=severity,
        opened_after=opened_after,
        before_id=before_id,
        limit=limit,
    )


@router.get(
    "/incidents/{incident_id}",
    tags=["incidents"],
    summary="Incident with timeline, signals and sample mentions (role responder)",
)
async def get_incident(session: SessionDep, _: Responder, incident_id: Id) -> IncidentDetail:
    """One incident in full."""
    return await work.incident_detail(session, incident_id=incident_id)


@router.get(
    "/incidents/{incident_id}/holding-statements",
    operation_id="get_incident_holding_statements",
    tags=["incidents"],
    summary="Holding statements of the incident's playbook, ready to post (role responder)",
    description="Rendered for the incident's brand; its main languages come first (`main`).",
)
async def get_holding_statements(
    session: SessionDep, _: Responder, incident_id: Id
) -> list[StatementRead]:
    """The incident's holding statements."""
    return await work.holding_statements(session, incident_id=incident_id)


_TRANSITION_DOC = "409 when the incident's status does not allow it. Role responder."


@router.post(
    "/incidents/{incident_id}/acknowledge",
    operation_id="acknowledge_incident",
    tags=["incidents"],
    summary="Acknowledge an open or snoozed incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def acknowledge(session: SessionDep, who: Responder, incident_id: Id) -> IncidentRead:
    """Acknowledge."""
    return await work.acknowledge(session, incident_id=incident_id, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/assign",
    operation_id="assign_incident",
    tags=["incidents"],
    summary="Assign an unresolved incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def assign(
    session: SessionDep, who: Responder, incident_id: Id, body: AssignIn
) -> IncidentRead:
    """Assign an owner."""
    return await work.assign(session, incident_id=incident_id, owner=body.owner, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/escalate",
    operation_id="escalate_incident",
    tags=["incidents"],
    summary="Raise an unresolved incident's severity one step",
    description="SEV4 -> SEV3 -> SEV2 -> SEV1; 409 at SEV1 or when resolved. Role responder.",
    responses={409: {"description": "already SEV1, or illegal status transition"}},
)
async def escalate(session: SessionDep, who: Responder, incident_id: Id) -> IncidentRead:
    """Escalate."""
    return await work.escalate(session, incident_id=incident_id, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/notes",
    operation_id="add_incident_note",
    tags=["incidents"],
    status_code=201,
    summary="Add a note to the timeline (role responder)",
)
async def add_note(session: SessionDep, who: Responder, incident_id: Id, body: NoteIn) -> EventRead:
    """Add a note."""
    return await work.add_note(session, incident_id=incident_id, text=body.text, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/snooze",
    operation_id="snooze_incident",
    tags=["incidents"],
    summary="Snooze an unresolved incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def snooze(
    session: SessionDep, who: Responder, incident_id: Id, body: SnoozeIn
) -> IncidentRead:
    """Snooze."""
    return await work.snooze(
        session, incident_id=incident_id, minutes=body.minutes, actor=who.actor
    )


@router.post(
    "/incidents/{incident_id}/resolve",
    operation_id="resolve_incident",
    tags=["incidents"],
    summary="Resolve an incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def resolve(
    session: SessionDep, who: Responder, incident_id: Id, body: ResolveIn
) -> IncidentRead:
    """Resolve."""
    return await work.resolve(
        session, incident_id=incident_id, resolution=body.resolution, actor=who.actor
    )


@router.post(
    "/incidents/{incident_id}/dismiss",
    operation_id="dismiss_incident",
    tags=["incidents"],
    summary="Dismiss an incident as a false positive",
    description="Resolves it (if not yet) with the reason; audited and counted per rule on the "
    "alert-quality dashboard. 409 when already dismissed. Role responder.",
    responses={409: {"description": "already dismissed"}},
)
async def dismiss(
    session: SessionDep,
    who: Responder,
    incident_id: Id,
    body: DismissIn,
    metrics: IncidentMetricsDep,
) -> IncidentRead:
    """Dismiss as a false positive."""
    read = await work.dismiss(session, incident_id=incident_id, reason=body.reason, actor=who.actor)
    # Counted before the request's commit: a failed commit (rare) overcounts by one.
    metrics.dismissed.labels(read.rule).inc()
    return read


@router.put(
    "/incidents/{incident_id}/review",
    operation_id="review_incident",
    tags=["incidents"],
    summary="Write the post-incident review of a resolved incident",
    description="409 while the incident is not resolved. Role responder.",
    responses={409: {"description": "incident not resolved"}},
)
async def put_review(
    session: SessionDep, who: Responder, incident_id: Id, body: ReviewIn
) -> ReviewRead:
    """Create or replace the review."""
    return await work.write_review(session, incident_id=incident_id, review=body, actor=who.actor)
