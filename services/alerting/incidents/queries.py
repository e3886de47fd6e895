"""Incident work, playbook runs, rules and campaigns as used by the HTTP API.

Status changes are validated against `TRANSITIONS` (an illegal one raises `Conflict`), every
change lands in the incident timeline and the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.models import (
    CampaignRow,
    IncidentEventRow,
    IncidentReviewRow,
    IncidentRow,
    MentionRow,
    PlaybookRunRow,
    PlaybookStepRow,
    RollupRow,
    RuleRow,
    SignalRow,
)
from shared.errors import Conflict, NotFound
from shared.http import audit

IncidentStatus = Literal["open", "acknowledged", "snoozed", "resolved"]
StepStatus = Literal["pending", "in_progress", "done", "skipped"]
# Which status each action may start from; anything else is a 409.
TRANSITIONS: dict[str, frozenset[str]] = {
    "acknowledge": frozenset({"open", "snoozed"}),
    "snooze": frozenset({"open", "acknowledged", "snoozed"}),
    "resolve": frozenset({"open", "acknowledged", "snoozed"}),
    "assign": frozenset({"open", "acknowledged", "snoozed"}),
}
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"in_progress", "done", "skipped"}),
    "in_progress": frozenset({"pending", "done", "skipped"}),
    "done": frozenset(),
    "skipped": frozenset({"pending"}),
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IncidentRead(BaseModel):
    """An incident as listed."""

    id: int
    brand: str
    topic: str
    category: str
    rule: str
    status: str
    severity: str
    title: str
    owner: str | None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    signal_count: int
    mention_count: int
    peak_score: float
    playbook: str | None


class EventRead(BaseModel):
    """One timeline entry."""

    id: int
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]


class SignalRead(BaseModel):
    """A detector firing folded into the incident."""

    id: int
    rule: str
    at: datetime
    score: float
    value: float
    baseline: float
    details: dict[str, Any]


class SampleMention(BaseModel):
    """A representative mention of the incident's story (pseudonymous author)."""

    id: int
    platform: str
    author_id: str
    text: str
    url: str | None
    created_at: datetime
    sentiment_label: str | None
    author_reach: int | None


class ReviewIn(_In):
    """Input of the post-incident review."""

    summary: str = Field(
        min_length=1,
        max_length=20_000,
        examples=["A batch of faulty kettles; recall announced within 2h."],
    )
    root_cause: str | None = Field(default=None, max_length=20_000)
    actions: list[str] = Field(
        default_factory=list, max_length=50, examples=[["QA gate on heating elements"]]
    )


class ReviewRead(BaseModel):
    """A stored post-incident review."""

    incident_id: int
    summary: str
    root_cause: str | None
    actions: list[str]
    author: str
    created_at: datetime


class IncidentDetail(IncidentRead):
    """An incident with its timeline, signals, sample mentions and review."""

    details: dict[str, Any]
    timeline: list[EventRead]
    signals: list[SignalRead]
    samples: list[SampleMention]
    review: ReviewRead | None


class IncidentPage(BaseModel):
    """A page of incidents, newest first; pass `next_before_id` as `before_id`."""

    items: list[IncidentRead]
    next_before_id: int | None


class AssignIn(_In):
    """Input of assign."""

    owner: str = Field(min_length=1, max_length=128, examples=["maria@pr-team"])


class NoteIn(_In):
    """Input of add-note."""

    text: str = Field(min_length=1, max_length=10_000, examples=["Statement drafted, in legal."])


class SnoozeIn(_In):
    """Input of snooze: for how long."""

    minutes: int = Field(ge=1, le=7 * 24 * 60, examples=[60])


class ResolveIn(_In):
    """Input of resolve."""

    resolution: str | None = Field(
        default=None, max_length=10_000, examples=["Recall announced; sentiment back to baseline."]
    )


def _incident_read(row: IncidentRow) -> IncidentRead:
    return IncidentRead.model_validate(row, from_attributes=True)


async def _incident(session: AsyncSession, incident_id: int, *, lock: bool = False) -> IncidentRow:
    stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
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
    )


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
    """Silence an unresolved incident for `minutes`."""
    row = await _incident(session, incident_id, lock=True)
    until = datetime.now(UTC) + timedelta(minutes=minutes)
    await _transition(session, row, action="snooze", actor=actor, data={"until": until.isoformat()})
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


# Playbook runs ----------------------------------------------------------------------------


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


class StepUpdate(_In):
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


# Rules -------------------------------------------------------------------------------------

Metric = Literal["negative", "volume", "negative_ratio", "mean_score"]


class RuleDefinition(_In):
    """A threshold rule on rollup aggregates per window."""

    kind: Literal["threshold"] = "threshold"
    metric: Metric = Field(
        examples=["negative"], description="negative count, volume, negative/volume or mean score"
    )
    window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    threshold: float = Field(examples=[50.0], ge=-1e12, le=1e12)
    comparison: Literal[">=", "<="] = ">="
    min_volume: int = Field(
        default=0, ge=0, le=10**9, description="ignore windows with fewer mentions"
    )
    topic: str = Field(default="", max_length=64)
    platform: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV3"


class RuleIn(_In):
    """Input of create/replace rule."""

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        examples=["acme-negative-surge"],
    )
    brand: str = Field(default="*", min_length=1, max_length=64, examples=["acme"])
    enabled: bool = True
    definition: RuleDefinition


class RuleRead(BaseModel):
    """A stored rule."""

    id: int
    name: str
    brand: str
    enabled: bool
    definition: dict[str, Any]
    updated_at: datetime


class RuleFiring(BaseModel):
    """A window where the rule would have fired."""

    brand: str
    window_start: datetime
    value: float
    volume: int


class RuleValidation(BaseModel):
    """What a rule would have fired on over the checked range."""

    start: datetime
    end: datetime
    windows_checked: int
    firings: list[RuleFiring]


async def list_rules(session: AsyncSession, *, brand: str | None = None) -> list[RuleRead]:
    """Rules (of one brand when given, including '*' rules), by name."""
    stmt = select(RuleRow).order_by(RuleRow.name)
    if brand:
        stmt = stmt.where(RuleRow.brand.in_([brand, "*"]))
    return [
        RuleRead.model_validate(r, from_attributes=True)
        for r in (await session.scalars(stmt)).all()
    ]


async def get_rule(session: AsyncSession, *, rule_id: int) -> RuleRead:
    """One rule."""
    row = await session.get(RuleRow, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist")
    return RuleRead.model_validate(row, from_attributes=True)


async def create_rule(session: AsyncSession, *, rule: RuleIn, actor: str) -> RuleRead:
    """Create a rule; the name must be unique."""
    row = RuleRow(
        name=rule.name,
        brand=rule.brand,
        enabled=rule.enabled,
        definition=rule.definition.model_dump(mode="json"),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a rule named {rule.name!r} already exists") from exc
    await session.refresh(row)
    await audit.record(
        session,
        actor=actor,
        action="rule.create",
        target=f"rule:{row.id}",
        details=rule.model_dump(mode="json"),
    )
    return RuleRead.model_validate(row, from_attributes=True)


async def update_rule(session: AsyncSession, *, rule_id: int, rule: RuleIn, actor: str) -> RuleRead:
    """Replace a rule's name, brand, definition and enabled flag."""
    row = await session.get(RuleRow, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist")
    before = RuleRead.model_validate(row, from_attributes=True).model_dump(mode="json")
    try:
        async with session.begin_nested():
            row.name = rule.name
            row.brand = rule.brand
            row.enabled = rule.enabled
            row.definition = rule.definition.model_dump(mode="json")
            row.updated_at = datetime.now(UTC)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a rule named {rule.name!r} already exists") from exc
    await session.refresh(row)
    await audit.record(
        session,
        actor=actor,
        action="rule.update",
        target=f"rule:{rule_id}",
        details={"before": before, "after": rule.model_dump(mode="json")},
    )
    return RuleRead.model_validate(row, from_attributes=True)


async def delete_rule(session: AsyncSession, *, rule_id: int, actor: str) -> None:
    """Delete a rule."""
    row = await session.get(RuleRow, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist")
    await audit.record(
        session,
        actor=actor,
        action="rule.delete",
        target=f"rule:{rule_id}",
        details={"name": row.name, "definition": row.definition},
    )
    await session.delete(row)
    await session.flush()


async def validate_rule(
    session: AsyncSession,
    *,
    brand: str,
    definition: RuleDefinition,
    end: datetime | None = None,
    days: int = 7,
    limit: int = 200,
) -> RuleValidation:
    """Dry run: the windows of the last `days` where the rule would have fired (from rollups)."""
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    window = timedelta(minutes=definition.window_minutes)
    bucket = func.date_bin(window, RollupRow.minute, datetime(2000, 1, 1, tzinfo=UTC)).label(
        "window_start"
    )
    conditions: list[ColumnElement[bool]] = [
        RollupRow.minute >= start,
        RollupRow.minute < end,
        RollupRow.topic == definition.topic,
    ]
    if brand != "*":
        conditions.append(RollupRow.brand == brand)
    if definition.platform:
        conditions.append(RollupRow.platform == definition.platform)
    if definition.language:
        conditions.append(RollupRow.language == definition.language)
    stmt = (
        select(
            RollupRow.brand,
            bucket,
            func.sum(RollupRow.volume).label("volume"),
            func.sum(RollupRow.negative).label("negative"),
            func.sum(RollupRow.negative + RollupRow.neutral + RollupRow.positive).label("scored"),
            func.sum(RollupRow.sentiment_sum).label("sentiment_sum"),
        )
        .where(*conditions)
        .group_by(RollupRow.brand, bucket)
        .order_by(bucket, RollupRow.brand)
    )
    rows = (await session.execute(stmt)).all()
    firings: list[RuleFiring] = []
    for row in rows:
        volume = int(row.volume)
        if volume < definition.min_volume:
            continue
        value = _metric(
            definition.metric,
            volume=volume,
            negative=int(row.negative),
            scored=int(row.scored),
            sentiment_sum=float(row.sentiment_sum),
        )
        if value is None:
            continue
        hit = (
            value >= definition.threshold
            if definition.comparison == ">="
            else (value <= definition.threshold)
        )
        if hit and len(firings) < limit:
            firings.append(
                RuleFiring(
                    brand=row.brand,
                    window_start=row.window_start,
                    value=round(value, 4),
                    volume=volume,
                )
            )
    return RuleValidation(start=start, end=end, windows_checked=len(rows), firings=firings)


def _metric(
    metric: str, *, volume: int, negative: int, scored: int, sentiment_sum: float
) -> float | None:
    if metric == "negative":
        return float(negative)
    if metric == "volume":
        return float(volume)
    if metric == "negative_ratio":
        return negative / volume if volume else None
    return sentiment_sum / scored if scored else None


# Campaigns ---------------------------------------------------------------------------------


class CampaignIn(_In):
    """Input of create/replace campaign."""

    brand: str = Field(min_length=1, max_length=64, examples=["acme"])
    name: str = Field(min_length=1, max_length=256, examples=["Black Friday kettle launch"])
    starts_at: datetime = Field(examples=["2026-11-27T00:00:00Z"])
    ends_at: datetime = Field(examples=["2026-11-30T23:59:00Z"])
    expected_lift: float = Field(
        default=3.0, ge=1.0, le=1000.0, description="expected volume multiple during the campaign"
    )

    @model_validator(mode="after")
    def _ordered(self) -> CampaignIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset")
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class CampaignRead(BaseModel):
    """A stored campaign."""

    id: int
    brand: str
    name: str
    starts_at: datetime
    ends_at: datetime
    expected_lift: float


async def list_campaigns(
    session: AsyncSession,
    *,
    brand: str | None = None,
    active_from: datetime | None = None,
    active_to: datetime | None = None,
) -> list[CampaignRead]:
    """Campaigns overlapping [active_from, active_to), by start time."""
    stmt = select(CampaignRow).order_by(CampaignRow.starts_at, CampaignRow.id)
    if brand:
        stmt = stmt.where(CampaignRow.brand == brand)
    if active_from is not None:
        stmt = stmt.where(CampaignRow.ends_at > active_from)
    if active_to is not None:
        stmt = stmt.where(CampaignRow.starts_at < active_to)
    return [
        CampaignRead.model_validate(r, from_attributes=True)
        for r in (await session.scalars(stmt)).all()
    ]


async def get_campaign(session: AsyncSession, *, campaign_id: int) -> CampaignRead:
    """One campaign."""
    row = await session.get(CampaignRow, campaign_id)
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return CampaignRead.model_validate(row, from_attributes=True)


async def save_campaign(
    session: AsyncSession, *, campaign: CampaignIn, actor: str, campaign_id: int | None = None
) -> CampaignRead:
    """Create a campaign, or replace one when `campaign_id` is given."""
    if campaign_id is None:
        row = CampaignRow(**campaign.model_dump())
        session.add(row)
        action = "campaign.create"
    else:
        existing = await session.get(CampaignRow, campaign_id)
        if existing is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        row = existing
        for key, value in campaign.model_dump().items():
            setattr(row, key, value)
        action = "campaign.update"
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=action,
        target=f"campaign:{row.id}",
        details=campaign.model_dump(mode="json"),
    )
    return CampaignRead.model_validate(row, from_attributes=True)


async def delete_campaign(session: AsyncSession, *, campaign_id: int, actor: str) -> None:
    """Delete a campaign."""
    row = await session.get(CampaignRow, campaign_id)
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    await audit.record(
        session,
        actor=actor,
        action="campaign.delete",
        target=f"campaign:{campaign_id}",
        details={"name": row.name},
    )
    await session.delete(row)
    await session.flush()
