"""HTTP API of the alerting service: incidents, playbooks, rules and the campaign calendar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from services.alerting.incidents import queries
from services.alerting.incidents.queries import (
    AssignIn,
    CampaignIn,
    CampaignRead,
    EventRead,
    IncidentDetail,
    IncidentPage,
    IncidentRead,
    IncidentStatus,
    NoteIn,
    ResolveIn,
    ReviewIn,
    ReviewRead,
    RuleDefinition,
    RuleIn,
    RuleRead,
    RuleValidation,
    RunRead,
    SnoozeIn,
    StepRead,
    StepUpdate,
)
from services.alerting.playbooks.loader import default_playbooks
from shared.errors import BadInput, ConfigError
from shared.http.deps import Admin, Responder, SessionDep

router = APIRouter(prefix="/v1")

Id = Annotated[int, Path(ge=1, le=2**62)]
BrandQ = Annotated[str | None, Query(min_length=1, max_length=64)]


# Incidents ---------------------------------------------------------------------------------


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
    return await queries.list_incidents(
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
    return await queries.incident_detail(session, incident_id=incident_id)


_TRANSITION_DOC = "409 when the incident's status does not allow it. Role responder."


@router.post(
    "/incidents/{incident_id}/acknowledge",
    tags=["incidents"],
    summary="Acknowledge an open or snoozed incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def acknowledge(session: SessionDep, who: Responder, incident_id: Id) -> IncidentRead:
    """Acknowledge."""
    return await queries.acknowledge(session, incident_id=incident_id, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/assign",
    tags=["incidents"],
    summary="Assign an unresolved incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def assign(
    session: SessionDep, who: Responder, incident_id: Id, body: AssignIn
) -> IncidentRead:
    """Assign an owner."""
    return await queries.assign(session, incident_id=incident_id, owner=body.owner, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/notes",
    tags=["incidents"],
    status_code=201,
    summary="Add a note to the timeline (role responder)",
)
async def add_note(session: SessionDep, who: Responder, incident_id: Id, body: NoteIn) -> EventRead:
    """Add a note."""
    return await queries.add_note(session, incident_id=incident_id, text=body.text, actor=who.actor)


@router.post(
    "/incidents/{incident_id}/snooze",
    tags=["incidents"],
    summary="Snooze an unresolved incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def snooze(
    session: SessionDep, who: Responder, incident_id: Id, body: SnoozeIn
) -> IncidentRead:
    """Snooze."""
    return await queries.snooze(
        session, incident_id=incident_id, minutes=body.minutes, actor=who.actor
    )


@router.post(
    "/incidents/{incident_id}/resolve",
    tags=["incidents"],
    summary="Resolve an incident",
    description=_TRANSITION_DOC,
    responses={409: {"description": "illegal status transition"}},
)
async def resolve(
    session: SessionDep, who: Responder, incident_id: Id, body: ResolveIn
) -> IncidentRead:
    """Resolve."""
    return await queries.resolve(
        session, incident_id=incident_id, resolution=body.resolution, actor=who.actor
    )


@router.put(
    "/incidents/{incident_id}/review",
    tags=["incidents"],
    summary="Write the post-incident review of a resolved incident",
    description="409 while the incident is not resolved. Role responder.",
    responses={409: {"description": "incident not resolved"}},
)
async def put_review(
    session: SessionDep, who: Responder, incident_id: Id, body: ReviewIn
) -> ReviewRead:
    """Create or replace the review."""
    return await queries.write_review(
        session, incident_id=incident_id, review=body, actor=who.actor
    )


# Playbooks ---------------------------------------------------------------------------------


class PlaybookStepDef(BaseModel):
    """A step of a playbook definition."""

    title: str
    owner_role: str
    due_after_minutes: float
    channels: list[str]


class PlaybookDef(BaseModel):
    """A playbook definition as loaded from YAML."""

    name: str
    title: str
    categories: list[str]
    languages: list[str] = Field(description="languages of its holding statements")
    steps: list[PlaybookStepDef]


@router.get("/playbooks", tags=["playbooks"], summary="Playbook definitions (role responder)")
async def list_playbooks(_: Responder) -> list[PlaybookDef]:
    """The packaged playbook definitions."""
    try:
        books = default_playbooks()
    except ConfigError as exc:
        raise BadInput(f"playbook definitions are invalid: {exc}") from exc
    return [
        PlaybookDef(
            name=b.name,
            title=b.title,
            categories=list(b.categories),
            languages=sorted(b.holding_statements),
            steps=[
                PlaybookStepDef(
                    title=s.title,
                    owner_role=s.owner_role,
                    due_after_minutes=s.due_after.total_seconds() / 60,
                    channels=list(s.channels),
                )
                for s in b.steps
            ],
        )
        for b in books.values()
    ]


@router.get("/playbook-runs", tags=["playbooks"], summary="Playbook runs (role responder)")
async def list_runs(
    session: SessionDep,
    _: Responder,
    incident_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RunRead]:
    """Runs with their steps."""
    return await queries.list_runs(session, incident_id=incident_id, limit=limit)


@router.get("/playbook-runs/{run_id}", tags=["playbooks"], summary="One run (role responder)")
async def get_run(session: SessionDep, _: Responder, run_id: Id) -> RunRead:
    """One run with its steps."""
    return await queries.get_run(session, run_id=run_id)


@router.patch(
    "/playbook-steps/{step_id}",
    tags=["playbooks"],
    summary="Update a step's status (role responder)",
    description="pending ⇄ in_progress → done|skipped; done is final (409).",
    responses={409: {"description": "illegal step transition"}},
)
async def update_step(
    session: SessionDep, who: Responder, step_id: Id, body: StepUpdate
) -> StepRead:
    """Change a step's status."""
    return await queries.update_step(session, step_id=step_id, update=body, actor=who.actor)


# Rules -------------------------------------------------------------------------------------


class RuleDryRun(BaseModel):
    """Input of the rule dry run."""

    brand: str = Field(default="*", min_length=1, max_length=64, examples=["acme"])
    definition: RuleDefinition
    days: int = Field(default=7, ge=1, le=31, description="how far back to replay")


@router.get("/rules", tags=["rules"], summary="List rules (role admin)")
async def list_rules(session: SessionDep, _: Admin, brand: BrandQ = None) -> list[RuleRead]:
    """Rules by name."""
    return await queries.list_rules(session, brand=brand)


@router.post(
    "/rules",
    tags=["rules"],
    status_code=201,
    summary="Create a rule (role admin)",
    responses={409: {"description": "name taken"}},
)
async def create_rule(session: SessionDep, who: Admin, body: RuleIn) -> RuleRead:
    """Create a rule."""
    return await queries.create_rule(session, rule=body, actor=who.actor)


@router.post(
    "/rules/validate",
    tags=["rules"],
    summary="Dry run: where a rule would have fired (role admin)",
    description="Replays the rule over the last `days` of rollups, window by window.",
)
async def validate_rule(session: SessionDep, _: Admin, body: RuleDryRun) -> RuleValidation:
    """Dry-run a rule definition."""
    return await queries.validate_rule(
        session, brand=body.brand, definition=body.definition, days=body.days
    )


@router.get("/rules/{rule_id}", tags=["rules"], summary="One rule (role admin)")
async def get_rule(session: SessionDep, _: Admin, rule_id: Id) -> RuleRead:
    """One rule."""
    return await queries.get_rule(session, rule_id=rule_id)


@router.put(
    "/rules/{rule_id}",
    tags=["rules"],
    summary="Replace a rule (role admin)",
    responses={409: {"description": "name taken"}},
)
async def update_rule(session: SessionDep, who: Admin, rule_id: Id, body: RuleIn) -> RuleRead:
    """Replace a rule."""
    return await queries.update_rule(session, rule_id=rule_id, rule=body, actor=who.actor)


@router.post(
    "/rules/{rule_id}/validate",
    tags=["rules"],
    summary="Dry run of a stored rule over the last week (role admin)",
)
async def validate_stored_rule(
    session: SessionDep,
    _: Admin,
    rule_id: Id,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> RuleValidation:
    """Dry-run a stored rule."""
    rule = await queries.get_rule(session, rule_id=rule_id)
    definition = RuleDefinition.model_validate(rule.definition)
    return await queries.validate_rule(session, brand=rule.brand, definition=definition, days=days)


@router.delete(
    "/rules/{rule_id}", tags=["rules"], status_code=204, summary="Delete a rule (role admin)"
)
async def delete_rule(session: SessionDep, who: Admin, rule_id: Id) -> Response:
    """Delete a rule."""
    await queries.delete_rule(session, rule_id=rule_id, actor=who.actor)
    return Response(status_code=204)


# Campaigns ---------------------------------------------------------------------------------


@router.get("/campaigns", tags=["campaigns"], summary="Campaign calendar (role admin)")
async def list_campaigns(
    session: SessionDep,
    _: Admin,
    brand: BrandQ = None,
    active_from: AwareDatetime | None = None,
    active_to: AwareDatetime | None = None,
) -> list[CampaignRead]:
    """Campaigns overlapping the range."""
    return await queries.list_campaigns(
        session, brand=brand, active_from=active_from, active_to=active_to
    )


@router.post(
    "/campaigns", tags=["campaigns"], status_code=201, summary="Add a campaign (role admin)"
)
async def create_campaign(session: SessionDep, who: Admin, body: CampaignIn) -> CampaignRead:
    """Create a campaign."""
    return await queries.save_campaign(session, campaign=body, actor=who.actor)


@router.get("/campaigns/{campaign_id}", tags=["campaigns"], summary="One campaign (role admin)")
async def get_campaign(session: SessionDep, _: Admin, campaign_id: Id) -> CampaignRead:
    """One campaign."""
    return await queries.get_campaign(session, campaign_id=campaign_id)


@router.put(
    "/campaigns/{campaign_id}", tags=["campaigns"], summary="Replace a campaign (role admin)"
)
async def update_campaign(
    session: SessionDep, who: Admin, campaign_id: Id, body: CampaignIn
) -> CampaignRead:
    """Replace a campaign."""
    return await queries.save_campaign(
        session, campaign=body, actor=who.actor, campaign_id=campaign_id
    )


@router.delete(
    "/campaigns/{campaign_id}",
    tags=["campaigns"],
    status_code=204,
    summary="Delete a campaign (role admin)",
)
async def delete_campaign(session: SessionDep, who: Admin, campaign_id: Id) -> Response:
    """Delete a campaign."""
    await queries.delete_campaign(session, campaign_id=campaign_id, actor=who.actor)
    return Response(status_code=204)
