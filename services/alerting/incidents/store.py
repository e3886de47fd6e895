"""Incident storage: signals grouped into one open incident per story, with its timeline.

`record_signal` writes the `signals` row and opens or updates the story's incident in the
caller's transaction (routing by `stories.place_signal`, after the sentiment side's story
merges; open incidents found to follow one story are merged, `incidents.merge`); severity
only escalates while the incident is open. `propose_recovery` marks a calm story on its
timeline. The responder's status changes (acknowledge, snooze, resolve) are in
`incidents.work`. `IncidentHooks` is where notifications, playbooks and escalation plug in,
inside the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.detect.forecast import Projection
from services.alerting.detect.signals import Refresh, Signal, category_of
from services.alerting.detect.stories import OpenStory, canonical, place_signal, worse
from services.alerting.incidents.merge import merge_incidents, story_merges, union_scope
from services.alerting.incidents.regrade import projected_reason, raised_level
from shared.contracts.topics import GENERIC_CATEGORY
from shared.db.models import IncidentEventRow, IncidentRow, SignalRow

ChangeKind = Literal["opened", "updated", "severity_changed", "recovery_proposed"]


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """What a signal (or recovery) did to an incident."""

    incident_id: int
    kind: ChangeKind
    severity: str
    previous_severity: str | None
    category: str
    signal_id: int | None = None
    recategorized: bool = False  # a topic signal gave a generic incident its category
    merged: tuple[int, ...] = ()  # open incidents of the same story closed as merged into it

    @property
    def opened(self) -> bool:
        """True when the change opened the incident."""
        return self.kind == "opened"


class IncidentHooks(Protocol):
    """Side effects of an incident change (notifications, playbook runs, escalation)."""

    async def __call__(self, session: AsyncSession, change: IncidentChange) -> None:
        """Run inside the transaction that made `change`."""
        ...


def _title(signal: Signal) -> str:
    what = category_of(signal.story_topic).replace("_", " ") if signal.story_topic else "volume"
    who = f"{signal.brand} (competitor)" if signal.competitor else signal.brand
    return (
        f"{who}: {what} crisis ({signal.rule.replace('_', ' ')}, "
        f"{signal.mentions} mentions in window)"
    )


def _scope(signal: Signal) -> dict[str, list[str]]:
    """Where the signal's mentions are, and what they are about (topics, emotions)."""
    s = signal.severity.scope
    return {
        "markets": list(s.markets),
        "languages": list(s.languages),
        "platforms": list(s.platforms),
        "topics": sorted({*signal.topics, *([signal.story_topic] if signal.story_topic else [])}),
        "emotions": list(signal.emotions),
    }


async def _open_stories(session: AsyncSession, brand: str) -> list[IncidentRow]:
    stmt = (
        select(IncidentRow)
        .where(IncidentRow.brand == brand, IncidentRow.status != "resolved")
        .order_by(IncidentRow.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


def _story(row: IncidentRow, merges: dict[str, str]) -> OpenStory:
    last = row.details.get("last_signal_at")
    at = datetime.fromisoformat(last) if isinstance(last, str) else row.updated_at
    story = canonical(row.story_id, merges) if row.story_id else None
    return OpenStory(row.id, row.topic, at, row.severity, story)


async def record_signal(
    session: AsyncSession, signal: Signal, *, grouping_window: timedelta
) -> IncidentChange:
    """Store the signal and open or update its story's incident (in the caller's transaction)."""
    rows = await _open_stories(session, signal.brand)
    known = [s for s in (signal.story_id, *(r.story_id for r in rows)) if s]
    merges = await story_merges(session, known)
    story = canonical(signal.story_id, merges) if signal.story_id else None
    placement = place_signal(
        story_topic=signal.story_topic,
        at=signal.at,
        open_stories=[_story(r, merges) for r in rows],
        window=grouping_window,
        story=story,
    )
    target = next((r for r in rows if r.id == placement.incident_id), None)
    merged: list[int] = []
    if target is None:
        change = await _open(session, signal, story)
    else:
        before = target.severity
        if placement.merge and story is not None:
            younger = [r for r in rows if r.id in placement.merge]
            merged = await merge_incidents(session, target, younger, story=story)
        if story is not None and target.story_id != story:
            target.story_id = story  # adopted, or its story merged into `story`
        change = await _update(session, target, signal, retopic=placement.retopic)
        if change.kind == "updated" and change.severity != before:  # a merge escalated it
            change = replace(change, kind="severity_changed", previous_severity=before)
    sig = SignalRow(
        brand=signal.brand,
        topic=signal.topic,
        rule=signal.rule,
        at=signal.at,
        score=signal.score,
        value=signal.value,
        baseline=signal.baseline,
        incident_id=change.incident_id,
        details={**signal.details, "severity": signal.severity.level},
    )
    session.add(sig)
    await session.flush()
    return replace(change, signal_id=int(sig.id), merged=tuple(merged))


def _open_key(brand: str, story: str | None, topic: str) -> list[ColumnElement[bool]]:
    """The open incident `_open` conflicts with: of the story, else of the storyless topic."""
    where = [IncidentRow.brand == brand, IncidentRow.status != "resolved"]
    if story is not None:
        return [*where, IncidentRow.story_id == story]
    return [*where, IncidentRow.story_id.is_(None), IncidentRow.topic == topic]


async def _open(session: AsyncSession, signal: Signal, story: str | None) -> IncidentChange:
    at = signal.at.isoformat()
    # The partial unique index the new row would collide with (see `IncidentRow`).
    key, present = ("story_id", "IS NOT NULL") if story is not None else ("topic", "IS NULL")
    stmt = (
        insert(IncidentRow)
        .values(
            brand=signal.brand,
            story_id=story,
            topic=signal.story_topic,
            category=signal.category,
            rule=signal.rule,
            status="open",
            severity=signal.severity.level,
            title=_title(signal),
            signal_count=1,
            mention_count=signal.mentions,
            peak_score=signal.score,
            scope=_scope(signal),
            reasons=list(signal.severity.reasons),
            details={
                "first_signal_at": at,
                "last_signal_at": at,
                "rules": [signal.rule],
                "severity_points": signal.severity.points,
                **_projection(signal),
            },
        )
        .on_conflict_do_nothing(
            index_elements=["brand", key],
            index_where=text(f"status <> 'resolved' AND story_id {present}"),
        )
        .returning(IncidentRow.id)
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    if new_id is None:  # another writer opened the story first: fold into it
        row = (
            await session.execute(
                select(IncidentRow)
                .where(*_open_key(signal.brand, story, signal.story_topic))
                .with_for_update()
            )
        ).scalar_one()
        return await _update(session, row, signal, retopic=False)
    session.add(
        IncidentEventRow(
            incident_id=new_id,
            kind="opened",
            data=_event_data(signal),
        )
    )
    return IncidentChange(int(new_id), "opened", signal.severity.level, None, signal.category)


async def _update(
    session: AsyncSession, row: IncidentRow, signal: Signal, *, retopic: bool
) -> IncidentChange:
    previous = row.severity
    previous_category = row.category
    row.severity = worse(previous, signal.severity.level)
    if retopic and signal.story_topic:
        row.topic = signal.story_topic
        row.category = signal.category
        row.title = _title(signal)
    row.signal_count += 1
    row.mention_count = max(row.mention_count, signal.mentions)
    row.peak_score = max(row.peak_score, signal.score)
    row.scope = union_scope(row.scope or {}, _scope(signal))
    row.reasons = list(dict.fromkeys([*(row.reasons or []), *signal.severity.reasons]))
    rules = list(dict.fromkeys([*row.details.get("rules", []), signal.rule]))
    last = row.details.get("last_signal_at")
    row.details = {
        **row.details,
        "last_signal_at": max(last, signal.at.isoformat()) if last else signal.at.isoformat(),
        "rules": rules,
        "recovery_proposed": False,
        **_projection(signal),
    }
    row.updated_at = datetime.now(UTC)
    escalated = row.severity != previous
    session.add(
        IncidentEventRow(
            incident_id=row.id,
            kind="severity_changed" if escalated else "signal",
            data={**_event_data(signal), "previous_severity": previous},
        )
    )
    await session.flush()
    kind: ChangeKind = "severity_changed" if escalated else "updated"
    return IncidentChange(
        row.id,
        kind,
        row.severity,
        previous,
        row.category or GENERIC_CATEGORY,
        recategorized=row.category != previous_category,
    )


def _projection(signal: Signal) -> dict[str, Any]:
    """The incident's latest projection: the signal's, when it carries one."""
    data = signal.details.get("projection")
    return {"projection": data} if isinstance(data, dict) else {}


def _event_data(signal: Signal) -> dict[str, Any]:
    return {
        "rule": signal.rule,
        "topic": signal.topic,
        "at": signal.at.isoformat(),
        "score": signal.score,
        "value": signal.value,
        "baseline": signal.baseline,
        "severity": signal.severity.level,
        "reasons": list(signal.severity.reasons),
        "mentions": signal.mentions,
        "story": signal.story_id,
        "topics": list(signal.topics),
        "emotions": list(signal.emotions),
    }


async def propose_recovery(
    session: AsyncSession, *, brand: str, topic: str, at: datetime, calm_minutes: float
) -> IncidentChange | None:
    """Record a `recovery_proposed` event on an open incident of the topic (once per calm spell).

    Several stories may share a topic: the oldest incident not proposed yet gets it.
    """
    rows = (
        await session.execute(
            select(IncidentRow)
            .where(
                IncidentRow.brand == brand,
                IncidentRow.topic == topic,
                IncidentRow.status != "resolved",
            )
            .order_by(IncidentRow.id)
            .with_for_update()
        )
    ).scalars()
    row = next((r for r in rows if not r.details.get("recovery_proposed")), None)
    if row is None:
        return None
    row.details = {**row.details, "recovery_proposed": True}
    session.add(
        IncidentEventRow(
            incident_id=row.id,
            kind="recovery_proposed",
            data={"at": at.isoformat(), "calm_minutes": calm_minutes},
        )
    )
    await session.flush()
    return IncidentChange(row.id, "recovery_proposed", row.severity, row.severity, row.category)


async def merge_converged(session: AsyncSession) -> list[IncidentChange]:
    """Merge open incidents whose stories the sentiment side merged since (no signal needed).

    Per brand and resulting story, the oldest incident absorbs the younger ones; one change
    per survivor, naming the incidents merged into it.
    """
    rows = (
        await session.scalars(
            select(IncidentRow)
            .where(IncidentRow.status != "resolved", IncidentRow.story_id.is_not(None))
            .order_by(IncidentRow.id)
            .with_for_update()
        )
    ).all()
    merges = await story_merges(session, [r.story_id for r in rows if r.story_id])
    groups: dict[tuple[str, str], list[IncidentRow]] = {}
    for row in rows:
        assert row.story_id is not None
        groups.setdefault((row.brand, canonical(row.story_id, merges)), []).append(row)
    changes: list[IncidentChange] = []
    for (_, story), group in groups.items():
        if len(group) < 2:
            continue
        target, before = group[0], group[0].severity
        merged = await merge_incidents(session, target, group[1:], story=story)
        target.story_id = story
        await session.flush()
        kind: ChangeKind = "severity_changed" if target.severity != before else "updated"
        changes.append(
            IncidentChange(
                target.id,
                kind,
                target.severity,
                before,
                target.category or GENERIC_CATEGORY,
                merged=tuple(merged),
            )
        )
    return changes


async def open_story_keys(session: AsyncSession) -> set[tuple[str, str]]:
    """Return (brand, topic) of every incident that is not resolved."""
    stmt = select(IncidentRow.brand, IncidentRow.topic).where(IncidentRow.status != "resolved")
    return {(b, t) for b, t in (await session.execute(stmt)).all()}


async def refresh_projection(session: AsyncSession, refresh: Refresh) -> list[IncidentChange]:
    """Keep the newer projection on the open incidents of the refreshed story's topic.

    The refresh keys are the open incidents' own topics (`open_story_keys`), so story
    incidents are found. A newer projection of at least three times the usual volume over
    the next 6 hours raises the incident one level, once (`regrade.raised_level`); never
    lowers it.
    """
    rows = (
        await session.execute(
            select(IncidentRow)
            .where(
                IncidentRow.brand == refresh.brand,
                IncidentRow.topic == refresh.topic,
                IncidentRow.status != "resolved",
            )
            .order_by(IncidentRow.id)
            .with_for_update()
        )
    ).scalars()
    multiple = Projection.from_dict(refresh.projection).usual_multiple
    changes = []
    for row in rows:
        details = row.details or {}
        held = details.get("projection") or {}
        if str(held.get("at", "")) >= refresh.projection["at"]:
            continue
        row.details = {**details, "projection": refresh.projection}
        raised = raised_level(
            row.severity,  # type: ignore[arg-type]
            multiple,
            list(row.reasons or []),
            raised_before=bool(details.get("projection_raised")),
        )
        if raised is None:
            continue
        assert multiple is not None  # raised_level raises on a multiple only
        previous, reason = row.severity, projected_reason(multiple)
        row.severity = raised
        row.reasons = [*(row.reasons or []), reason]
        row.details = {**row.details, "projection_raised": True}
        row.updated_at = datetime.now(UTC)
        data = {"severity": raised, "previous_severity": previous, "reasons": [reason]}
        session.add(IncidentEventRow(incident_id=row.id, kind="severity_changed", data=data))
        changes.append(
            IncidentChange(
                row.id, "severity_changed", raised, previous, row.category or GENERIC_CATEGORY
            )
        )
    await session.flush()
    return changes
