"""HTTP routes of playbooks: definitions (stored, audited), runs with their steps, step changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from services.alerting.playbooks import store, work
from services.alerting.playbooks.models import Playbook
from services.alerting.playbooks.work import RunRead, StepRead, StepUpdate
from services.alerting.schemas import Id
from shared.http.deps import Admin, Responder, SessionDep

router = APIRouter()


class PlaybookStepDef(BaseModel):
    """A step of a playbook definition."""

    title: str
    owner_role: str
    due_after_minutes: float
    channels: list[str]


class PlaybookDef(BaseModel):
    """A playbook definition in force (stored, else packaged)."""

    name: str
    title: str
    category: str
    languages: list[str] = Field(description="languages of its holding statements")
    holding_statements: dict[str, str] = Field(
        description="language -> holding statement template; `{brand}` is the brand's name"
    )
    steps: list[PlaybookStepDef]


NamePath = Annotated[str, Path(min_length=1, max_length=64)]


def _definition(b: Playbook) -> PlaybookDef:
    return PlaybookDef(
        name=b.name,
        title=b.title,
        category=b.category,
        languages=sorted(b.holding_statements),
        holding_statements=dict(sorted(b.holding_statements.items())),
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


@router.get("/playbooks", tags=["playbooks"], summary="Playbook definitions (role responder)")
async def list_playbooks(session: SessionDep, _: Responder) -> list[PlaybookDef]:
    """The playbooks in force, with their holding statements."""
    books = await store.active_playbooks(session)
    return [_definition(books[name]) for name in sorted(books)]


@router.get(
    "/playbooks/{name}",
    tags=["playbooks"],
    summary="One playbook definition (role responder)",
)
async def get_playbook(session: SessionDep, _: Responder, name: NamePath) -> PlaybookDef:
    """One playbook definition with its holding statements."""
    return _definition(await store.get_playbook(session, name=name))


@router.put(
    "/playbooks/{name}",
    operation_id="put_playbook",
    tags=["playbooks"],
    summary="Create or replace a playbook (role admin)",
    description="The body is the YAML file's content as JSON (durations like `30m`, `2h`). "
    "The set must keep one playbook per category and a generic one; the next incident of "
    "the category starts the new version, without a restart. Audited.",
    responses={
        201: {"description": "created"},
        409: {"description": "the category is served by another playbook"},
    },
)
async def put_playbook(
    session: SessionDep, who: Admin, name: NamePath, body: Playbook, response: Response
) -> PlaybookDef:
    """Store a playbook."""
    book, created = await store.put_playbook(session, name=name, playbook=body, actor=who.actor)
    response.status_code = 201 if created else 200
    return _definition(book)


@router.delete(
    "/playbooks/{name}",
    operation_id="delete_playbook",
    tags=["playbooks"],
    status_code=204,
    summary="Delete a playbook (role admin)",
    description="Its category falls back to the generic playbook, which cannot be deleted.",
    responses={409: {"description": "the generic playbook"}},
)
async def delete_playbook(session: SessionDep, who: Admin, name: NamePath) -> Response:
    """Delete a playbook."""
    await store.delete_playbook(session, name=name, actor=who.actor)
    return Response(status_code=204)


@router.get(
    "/playbook-runs",
    operation_id="list_playbook_runs",
    tags=["playbooks"],
    summary="Playbook runs (role responder)",
)
async def list_runs(
    session: SessionDep,
    _: Responder,
    incident_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RunRead]:
    """Runs with their steps."""
    return await work.list_runs(session, incident_id=incident_id, limit=limit)


@router.get(
    "/playbook-runs/{run_id}",
    operation_id="get_playbook_run",
    tags=["playbooks"],
    summary="One run (role responder)",
)
async def get_run(session: SessionDep, _: Responder, run_id: Id) -> RunRead:
    """One run with its steps."""
    return await work.get_run(session, run_id=run_id)


@router.patch(
    "/playbook-steps/{step_id}",
    operation_id="update_playbook_step",
    tags=["playbooks"],
    summary="Update a step's status (role responder)",
    description="pending ⇄ in_progress → done|skipped; done is final (409).",
    responses={409: {"description": "illegal step transition"}},
)
async def update_step(
    session: SessionDep, who: Responder, step_id: Id, body: StepUpdate
) -> StepRead:
    """Change a step's status."""
    return await work.update_step(session, step_id=step_id, update=body, actor=who.actor)
