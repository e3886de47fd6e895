"""Request and response models of the incident API, and the statuses an incident can have."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from services.alerting.playbooks.work import StatementRead
from services.alerting.schemas import StrictInput

# The one lifecycle: open -> acknowledged / snoozed -> resolved (see `work.TRANSITIONS`); a
# dismissal (false positive) resolves the incident and records when and why. A snooze
# expires back to the status it interrupted (`status_after_snooze`).
IncidentStatus = Literal["open", "acknowledged", "snoozed", "resolved"]
INCIDENT_STATUSES: tuple[IncidentStatus, ...] = get_args(IncidentStatus)


def status_after_snooze(acknowledged_at: datetime | None) -> IncidentStatus:
    """The status a snooze returns to: `acknowledged` once someone acknowledged, else `open`."""
    return "acknowledged" if acknowledged_at is not None else "open"


class OutlookRead(BaseModel):
    """Expected mentions over the next `hours`, with the 80% interval."""

    hours: int
    expected: float
    low: int
    high: int


class ProjectionRead(BaseModel):
    """Where the story's volume is heading, as projected at `at` (docs/detection.md)."""

    at: datetime
    last_hour: float = Field(description="mentions in the hour before `at`")
    outlooks: list[OutlookRead] = Field(description="the next 1, 6 and 24 hours")
    growth_per_hour: float = Field(
        description="fractional change per hour of the volume over its seasonal expectation"
    )
    peak_in_hours: int | None = Field(
        description="hours to the projected peak (0: peaked now; None: not elevated)"
    )
    trend: Literal["rising", "steady", "peaking", "declining"]
    line: str = Field(description="the one line notifications show")


class IncidentRead(BaseModel):
    """An incident as listed."""

    id: int
    brand: str
    topic: str
    category: str
    rule: str
    status: IncidentStatus
    severity: str
    title: str
    owner: str | None
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    dismissed_at: datetime | None = Field(description="when it was dismissed as a false positive")
    dismissal_reason: str | None
    signal_count: int
    mention_count: int
    peak_score: float
    playbook: str | None
    story_id: str | None = Field(
        default=None, description="the story it follows (None: grouped by topic, older payloads)"
    )
    merged_into: int | None = Field(
        default=None, description="the incident it was merged into when their stories converged"
    )
    scope: dict[str, list[str]] = Field(
        default_factory=dict,
        description="its attributes: markets, languages, platforms, topics, emotions",
    )
    projection: ProjectionRead | None = Field(
        default=None,
        description="the latest projection of its volume (1/6/24 h with 80% intervals), "
        "updated by every volume signal",
    )


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


class ReviewIn(StrictInput):
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
    holding_statements: list[StatementRead] = Field(
        description="the playbook's holding statements for the brand, main languages first"
    )


class IncidentPage(BaseModel):
    """A page of incidents, newest first; pass `next_before_id` as `before_id`."""

    items: list[IncidentRead]
    next_before_id: int | None


class AssignIn(StrictInput):
    """Input of assign."""

    owner: str = Field(min_length=1, max_length=128, examples=["maria@pr-team"])


class NoteIn(StrictInput):
    """Input of add-note."""

    text: str = Field(min_length=1, max_length=10_000, examples=["Statement drafted, in legal."])


class SnoozeIn(StrictInput):
    """Input of snooze: for how long."""

    minutes: int = Field(ge=1, le=7 * 24 * 60, examples=[60])


class ResolveIn(StrictInput):
    """Input of resolve."""

    resolution: str | None = Field(
        default=None, max_length=10_000, examples=["Recall announced; sentiment back to baseline."]
    )


class DismissIn(StrictInput):
    """Input of dismiss: why the incident is a false positive."""

    reason: str = Field(
        min_length=3, max_length=2000, examples=["Fan-fiction thread, not about our kettles."]
    )
