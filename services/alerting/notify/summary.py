"""Read what a notification says about an incident from the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.notify.content import (
    IncidentSummary,
    SampleMention,
    StatementSummary,
    StepSummary,
)
from services.alerting.notify.story_content import LanguageSample, StoryBrief, pick_headline
from services.alerting.playbooks.loader import playbook_for
from services.alerting.playbooks.store import active_playbooks
from services.alerting.playbooks.work import incident_statements
from shared.db.models import (
    IncidentRow,
    MentionRow,
    PlaybookRunRow,
    PlaybookStepRow,
    RollupRow,
    SignalRow,
    StoryRow,
)

_LOOKBACK = timedelta(hours=2)


async def _steps(session: AsyncSession, incident: IncidentRow) -> tuple[StepSummary, ...]:
    rows = (
        await session.scalars(
            select(PlaybookStepRow)
            .join(PlaybookRunRow, PlaybookRunRow.id == PlaybookStepRow.run_id)
            .where(PlaybookRunRow.incident_id == incident.id, PlaybookStepRow.status == "pending")
            .order_by(PlaybookStepRow.position)
            .limit(3)
        )
    ).all()
    if rows:
        return tuple(StepSummary(r.title, r.owner_role, r.due_at) for r in rows)
    book = playbook_for(incident.category, await active_playbooks(session))
    return tuple(
        StepSummary(s.title, s.owner_role, incident.opened_at + s.due_after) for s in book.steps[:3]
    )


async def _family(session: AsyncSession, story: str) -> list[StoryRow]:
    """The story's row and the rows of the stories merged into it (a few levels deep)."""
    rows = list((await session.scalars(select(StoryRow).where(StoryRow.id == story))).all())
    frontier = [story]
    for _ in range(4):
        found = (
            await session.scalars(select(StoryRow).where(StoryRow.merged_into.in_(frontier)))
        ).all()
        known = {r.id for r in rows}
        frontier = [r.id for r in found if r.id not in known]
        rows += [r for r in found if r.id in frontier]
        if not frontier:
            break
    return rows


def _story_brief(incident: IncidentRow, family: list[StoryRow]) -> StoryBrief | None:
    """The story part of the notification: from the stories table and the incident's scope."""
    scope = incident.scope or {}
    main = next((r for r in family if r.id == incident.story_id), None)
    reps: dict[str, Any] = {}
    for r in [*(r for r in family if r is not main), *([main] if main is not None else [])]:
        reps.update(r.representatives or {})  # the story's own representatives win
    candidates = [
        (lang, str(rep.get("text", "")), float(rep.get("similarity", 0.0)))
        for lang, rep in sorted(reps.items())
        if isinstance(rep, dict) and rep.get("text")
    ]
    languages = tuple(scope.get("languages", [])) or tuple(main.languages if main else ())
    volume = sum(r.volume for r in family)
    brief = StoryBrief(
        headline=pick_headline(candidates, languages),
        phrases=tuple(main.top_phrases if main is not None else ()),
        samples=tuple(LanguageSample(lang, text) for lang, text, _ in candidates),
        volume=volume,
        negative_share=sum(r.negative for r in family) / volume if volume else None,
        topics=tuple(scope.get("topics", [])),
        emotions=tuple(scope.get("emotions", [])),
        languages=languages,
        merged_into=incident.merged_into,
        projected=str((incident.projection or {}).get("line", "")),
    )
    return brief if brief.about() or brief.headline else None


async def _mentions(
    session: AsyncSession, incident: IncidentRow, since: datetime, stories: list[str]
) -> tuple[tuple[str, ...], tuple[SampleMention, ...]]:
    where = [
        MentionRow.brand == incident.brand,
        MentionRow.created_at >= since,
        MentionRow.sentiment_label == "negative",
    ]
    if stories:
        where.append(MentionRow.story_id.in_(stories))
    elif incident.topic:
        where.append(MentionRow.topics.contains([incident.topic]))
    term = func.unnest(MentionRow.keywords).label("term")
    terms_q = select(term, func.count().label("n")).where(*where).group_by("term")
    terms = (await session.execute(terms_q.order_by(desc("n")).limit(8))).scalars().all()
    samples = (
        await session.scalars(
            select(MentionRow)
            .where(*where)
            .order_by(desc(MentionRow.likes + MentionRow.shares), desc(MentionRow.created_at))
            .limit(3)
        )
    ).all()
    return tuple(str(t) for t in terms), tuple(
        SampleMention(m.text, m.url, m.platform, m.author_handle or m.author_id) for m in samples
    )


async def _series(
    session: AsyncSession, incident: IncidentRow, since: datetime
) -> tuple[tuple[datetime, float], ...]:
    stmt = (
        select(RollupRow.minute, func.sum(RollupRow.volume))
        .where(
            RollupRow.brand == incident.brand,
            RollupRow.topic == incident.topic,
            RollupRow.minute >= since,
        )
        .group_by(RollupRow.minute)
        .order_by(RollupRow.minute)
    )
    return tuple((minute, float(volume)) for minute, volume in (await session.execute(stmt)).all())


async def load_summary(session: AsyncSession, incident_id: int) -> IncidentSummary | None:
    """Build the notification summary of one incident; None when it does not exist."""
    incident = await session.get(IncidentRow, incident_id)
    if incident is None:
        return None
    signal = await session.scalar(
        select(SignalRow)
        .where(SignalRow.incident_id == incident_id)
        .order_by(desc(SignalRow.at))
        .limit(1)
    )
    details = incident.details or {}
    if signal is not None:
        metric, value, baseline = signal.rule, signal.value, signal.baseline
    else:
        metric = str(details.get("metric", incident.rule))
        value = float(details.get("value", incident.peak_score))
        baseline = float(details.get("baseline", 0.0))
    since = incident.opened_at - _LOOKBACK
    family = await _family(session, incident.story_id) if incident.story_id else []
    terms, samples = await _mentions(session, incident, since, [r.id for r in family])
    if not terms and isinstance(details.get("top_terms"), list):
        terms = tuple(str(t) for t in details["top_terms"][:8])
    return IncidentSummary(
        id=incident.id,
        brand=incident.brand,
        category=incident.category,
        severity=incident.severity,
        title=incident.title,
        status=incident.status,
        opened_at=incident.opened_at,
        metric=metric,
        value=float(value),
        baseline=float(baseline),
        top_terms=terms,
        samples=samples,
        steps=await _steps(session, incident),
        series=await _series(session, incident, since),
        statements=tuple(
            StatementSummary(st.language, st.text, st.main)
            for st in await incident_statements(session, incident)
        ),
        story=_story_brief(incident, family),
    )
