"""What the incident room and the overview show, read from PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.incidents import work
from services.alerting.incidents.schemas import IncidentDetail, IncidentRead
from services.alerting.playbooks.work import StepRead, list_runs
from services.alerting.room.chart import Point
from services.alerting.slack.commands import DaySentiment
from shared.db.models import HourlyRollupRow, IncidentRow, MentionRow, RollupRow
from shared.db.rollups import ALL_DIMENSIONS

_BEFORE = timedelta(hours=2)  # the chart starts this long before the incident opened
_LONGEST = timedelta(hours=12)
_PER_LANGUAGE = 3
_LANGUAGES = 6
OPEN_STATUSES = ("open", "acknowledged", "snoozed")


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample mention shown in the room."""

    text: str
    platform: str
    url: str | None
    sentiment: str | None
    reach: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Room:
    """Everything the room page of one incident shows."""

    incident: IncidentDetail
    points: list[Point]
    samples: dict[str, list[Sample]]
    steps: list[StepRead]
    reasons: list[str]
    scope: dict[str, Any]


def _window(incident: IncidentRead, now: datetime) -> tuple[datetime, datetime]:
    end = incident.resolved_at or now
    return max(incident.opened_at - _BEFORE, end - _LONGEST), end


async def _points(
    session: AsyncSession, incident: IncidentRead, start: datetime, end: datetime
) -> list[Point]:
    r = RollupRow
    rows = (
        await session.execute(
            select(
                r.minute,
                func.sum(r.volume),
                func.sum(r.negative),
                func.sum(r.negative + r.neutral + r.positive),
                func.sum(r.sentiment_sum),
            )
            .where(
                r.brand == incident.brand,
                r.topic == incident.topic,
                r.minute >= start,
                r.minute <= end,
            )
            .group_by(r.minute)
            .order_by(r.minute)
        )
    ).all()
    found = {
        at: Point(at, int(volume), int(negative), float(total) / int(scored) if scored else None)
        for at, volume, negative, scored, total in rows
    }
    if not found:
        return []
    # Quiet minutes have no rollup row: drawn as zero, so the time axis stays true.
    first, last = min(found), max(found)
    minutes = int((last - first).total_seconds() // 60) + 1
    return [
        found.get(first + timedelta(minutes=n), Point(first + timedelta(minutes=n), 0, 0, None))
        for n in range(minutes)
    ]


async def _samples(
    session: AsyncSession, incident: IncidentRead, start: datetime, end: datetime
) -> dict[str, list[Sample]]:
    conditions: list[ColumnElement[bool]] = [
        MentionRow.brands.contains([incident.brand]),
        MentionRow.created_at >= start,
        MentionRow.created_at <= end,
    ]
    if incident.topic:
        conditions.append(MentionRow.topics.contains([incident.topic]))
    rows = (
        await session.scalars(
            select(MentionRow)
            .where(*conditions)
            .order_by(
                (MentionRow.sentiment_label == "negative").desc(),
                MentionRow.author_reach.desc().nulls_last(),
                MentionRow.created_at.desc(),
            )
            .limit(200)
        )
    ).all()
    out: dict[str, list[Sample]] = {}
    for m in rows:
        group = out.setdefault(m.language or "und", [])
        if len(group) < _PER_LANGUAGE:
            group.append(
                Sample(m.text, m.platform, m.url, m.sentiment_label, m.author_reach, m.created_at)
            )
    ranked = sorted(out.items(), key=lambda kv: -len(kv[1]))[:_LANGUAGES]
    return dict(ranked)


async def room(session: AsyncSession, *, incident_id: int) -> Room:
    """The room of one incident (`IncidentNotFound` when there is none)."""
    detail = await work.incident_detail(session, incident_id=incident_id)
    start, end = _window(detail, datetime.now(UTC))
    runs = await list_runs(session, incident_id=incident_id)
    steps = runs[0].steps if runs else []  # the newest run: a switched playbook replaces it
    row = await session.get(IncidentRow, incident_id)
    return Room(
        reasons=[str(r) for r in (row.reasons if row is not None else []) or []],
        scope=dict((row.scope if row is not None else {}) or {}),
        incident=detail,
        points=await _points(session, detail, start, end),
        samples=await _samples(session, detail, start, end),
        steps=steps,
    )


async def brands_day(session: AsyncSession, *, now: datetime) -> dict[str, DaySentiment]:
    """Every brand with mentions in the last 24 hours, with its volume and sentiment."""
    r = HourlyRollupRow
    rows = (
        await session.execute(
            select(
                r.brand,
                func.sum(r.volume),
                func.sum(r.negative),
                func.sum(r.neutral),
                func.sum(r.positive),
                func.sum(r.sentiment_sum),
            )
            .where(
                r.topic == "",
                r.platform == ALL_DIMENSIONS,
                r.language == ALL_DIMENSIONS,
                r.hour > now - timedelta(hours=24),
                r.hour <= now,
            )
            .group_by(r.brand)
            .order_by(r.brand)
        )
    ).all()
    out = {}
    for brand, volume, negative, neutral, positive, total in rows:
        scored = int(negative) + int(neutral) + int(positive)
        out[brand] = DaySentiment(
            int(volume),
            int(negative),
            int(neutral),
            int(positive),
            float(total) / scored if scored else None,
        )
    return out


async def open_incidents(session: AsyncSession) -> list[IncidentRead]:
    """The unresolved incidents, newest first."""
    return (await work.list_incidents(session, statuses=OPEN_STATUSES, limit=200)).items
