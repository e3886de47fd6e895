"""HTTP routes of playbooks: the packaged definitions, runs with their steps, step changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from services.alerting.playbooks import work
from services.alerting.playbooks.loader import default_playbooks
from services.alerting.playbooks.models import Playbook
from services.alerting.playbooks.work import RunRead, StepRead, StepUpdate
from services.alerting.schemas import Id
from shared.errors import BadInput, ConfigError, NotFound
from shared.http.deps import Responder, SessionDep

router = APIRouter()


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
    category: str
    languages: list[str] = Field(description="languages of its holding statements")
    holding_statements: dict[str, str] = Field(
        description="language -> holding statement template; `{brand}` is the brand's name"
    )
    steps: list[PlaybookStepDef]


def _books() -> dict[str, Playbook]:
    try:
        return default_playbooks()
    except ConfigError as exc:
        raise BadInput(f"playbook definitions are invalid: {exc}") from exc


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
async def list_playbooks(_: Responder) -> list[PlaybookDef]:
    """The packaged playbook definitions, with their holding statements."""
    return [_definition(b) for b in _books().values()]


@router.get(
    "/playbooks/{name}",
    tags=["playbooks"],
    summary="One playbook definition (role responder)",
)
async def get_playbook(
    _: Responder, name: Annotated[str, Path(min_length=1, max_length=64)]
) -> PlaybookDef:
    """One playbook definition with its holding statements."""
    book = _books().get(name)
    if book is None:
        raise NotFound(f"playbook {name!r} does not exist")
    return _definition(book)


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
