"""Read what a notification says about an incident from the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.notify.content import (
    IncidentSummary,
    SampleMention,
    StatementSummary,
    StepSummary,
)
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


async def _mentions(
    session: AsyncSession, incident: IncidentRow, since: datetime
) -> tuple[tuple[str, ...], tuple[SampleMention, ...]]:
    where = [
        MentionRow.brand == incident.brand,
        MentionRow.created_at >= since,
        MentionRow.sentiment_label == "negative",
    ]
    if incident.topic:
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
    terms, samples = await _mentions(session, incident, since)
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
    )
