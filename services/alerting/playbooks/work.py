"""Playbook work as used by the HTTP API: runs with their steps, and step status changes.

A step moves along `STEP_TRANSITIONS` (done is final; anything else is a `Conflict`); each
change lands on the incident timeline and in the audit log in the same transaction. Starting
runs and reminding owners of overdue steps is the worker's side, in `runs`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.playbooks.loader import playbook_for
from services.alerting.playbooks.statements import holding_statements, main_languages
from services.alerting.playbooks.store import active_playbooks
from services.alerting.schemas import StrictInput
from shared.db.config_models import WatchlistRow
from shared.db.models import (
    IncidentEventRow,
    IncidentRow,
    MentionRow,
    PlaybookRunRow,
    PlaybookStepRow,
)
from shared.errors import Conflict, NotFound
from shared.http import audit

StepStatus = Literal["pending", "in_progress", "done", "skipped"]
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"in_progress", "done", "skipped"}),
    "in_progress": frozenset({"pending", "done", "skipped"}),
    "done": frozenset(),
    "skipped": frozenset({"pending"}),
}


class StepRead(BaseModel):
    """One step of a playbook run."""

    id: int
    run_id: int
    position: int
    title: str
    owner_role: str
    due_at: datetime
    status: str
    updated_at: datetime
    details: dict[str, Any]


class RunRead(BaseModel):
    """A playbook run with its steps."""

    id: int
    incident_id: int
    playbook: str
    started_at: datetime
    steps: list[StepRead]


class StatementRead(BaseModel):
    """A holding statement ready to post: `main` when in one of the incident's main languages."""

    language: str
    text: str
    main: bool


class StepUpdate(StrictInput):
    """Input of a step status change."""

    status: StepStatus = Field(examples=["done"])
    note: str | None = Field(default=None, max_length=5000)


async def list_runs(
    session: AsyncSession, *, incident_id: int | None = None, limit: int = 50
) -> list[RunRead]:
    """Playbook runs (of one incident when given), newest first, with their steps."""
    stmt = select(PlaybookRunRow).order_by(PlaybookRunRow.id.desc()).limit(limit)
    if incident_id is not None:
        stmt = stmt.where(PlaybookRunRow.incident_id == incident_id)
    runs = list((await session.scalars(stmt)).all())
    if not runs:
        return []
    steps = (
        await session.scalars(
            select(PlaybookStepRow)
            .where(PlaybookStepRow.run_id.in_([r.id for r in runs]))
            .order_by(PlaybookStepRow.run_id, PlaybookStepRow.position)
        )
    ).all()
    by_run: dict[int, list[StepRead]] = {r.id: [] for r in runs}
    for step in steps:
        by_run[step.run_id].append(StepRead.model_validate(step, from_attributes=True))
    return [
        RunRead(
            id=r.id,
            incident_id=r.incident_id,
            playbook=r.playbook,
            started_at=r.started_at,
            steps=by_run[r.id],
        )
        for r in runs
    ]


async def get_run(session: AsyncSession, *, run_id: int) -> RunRead:
    """One playbook run with its steps."""
    run = await session.get(PlaybookRunRow, run_id)
    if run is None:
        raise NotFound(f"playbook run {run_id} does not exist")
    steps = (
        await session.scalars(
            select(PlaybookStepRow)
            .where(PlaybookStepRow.run_id == run_id)
            .order_by(PlaybookStepRow.position)
        )
    ).all()
    return RunRead(
        id=run.id,
        incident_id=run.incident_id,
        playbook=run.playbook,
        started_at=run.started_at,
        steps=[StepRead.model_validate(s, from_attributes=True) for s in steps],
    )


async def update_step(
    session: AsyncSession, *, step_id: int, update: StepUpdate, actor: str
) -> StepRead:
    """Move a step to a new status (done is final); logged on the incident timeline."""
    step = await session.scalar(
        select(PlaybookStepRow).where(PlaybookStepRow.id == step_id).with_for_update()
    )
    if step is None:
        raise NotFound(f"playbook step {step_id} does not exist")
    if update.status != step.status and update.status not in STEP_TRANSITIONS.get(
        step.status, frozenset()
    ):
        raise Conflict(f"step {step_id} is {step.status}; it cannot become {update.status}")
    previous = step.status
    step.status = update.status
    step.updated_at = datetime.now(UTC)
    if update.note:
        step.details = {**(step.details or {}), "note": update.note}
    run = await session.get(PlaybookRunRow, step.run_id)
    data = {"step_id": step_id, "title": step.title, "from": previous, "to": update.status}
    if run is not None:
        session.add(
            IncidentEventRow(
                incident_id=run.incident_id, kind="playbook_step", actor=actor, data=data
            )
        )
    await audit.record(
        session, actor=actor, action="playbook.step", target=f"step:{step_id}", details=data
    )
    await session.flush()
    return StepRead.model_validate(step, from_attributes=True)


# Mentions written this long before an incident opened count toward its languages.
_LANGUAGE_LOOKBACK = timedelta(hours=2)


async def incident_statements(session: AsyncSession, incident: IncidentRow) -> list[StatementRead]:
    """The holding statements of the incident's playbook for its brand, main languages first.

    The main languages are the brand's first watchlist language and those of most of the
    incident's negative mentions (`playbooks.statements`); `{brand}` is the watchlist's
    display name, else the brand key.
    """
    books = await active_playbooks(session)
    playbook = books.get(incident.playbook or "") or playbook_for(incident.category, books)
    watchlist = await session.get(WatchlistRow, incident.brand)
    definition = watchlist.definition if watchlist is not None else {}
    languages = [str(lang) for lang in definition.get("languages") or []]
    where = [
        MentionRow.brand == incident.brand,
        MentionRow.created_at >= incident.opened_at - _LANGUAGE_LOOKBACK,
        MentionRow.sentiment_label == "negative",
    ]
    if incident.resolved_at is not None:
        where.append(MentionRow.created_at <= incident.resolved_at)
    if incident.topic:
        where.append(MentionRow.topics.contains([incident.topic]))
    counts = await session.execute(
        select(MentionRow.language, func.count()).where(*where).group_by(MentionRow.language)
    )
    main = main_languages(
        playbook,
        brand_languages=languages,
        mention_languages={str(lang): int(n) for lang, n in counts.all()},
    )
    brand = str(definition.get("display_name") or incident.brand)
    return [
        StatementRead(language=s.language, text=s.text, main=s.main)
        for s in holding_statements(playbook, brand=brand, main=main)
    ]
