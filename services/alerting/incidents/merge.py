"""Stories of incidents: sentiment-side story merges, and merging incidents of one story.

The sentiment worker records a story merge in `stories.merged_into`; `story_merges` reads
the chains for the stories an incident decision involves. `merge_incidents` closes the
younger open incidents of one story as merged into the oldest: each gets one `merged`
timeline event (its one "merged into #N" update), the survivor an `absorbed` event and the
union of their signals' scope, severity and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.detect.stories import MAX_MERGE_HOPS, worse
from shared.db.models import IncidentEventRow, IncidentRow, StoryRow


async def story_merges(session: AsyncSession, stories: Iterable[str]) -> dict[str, str]:
    """story -> the story it merged into, for `stories` and the chains they start."""
    out: dict[str, str] = {}
    todo = set(stories)
    for _ in range(MAX_MERGE_HOPS):
        todo -= set(out)
        if not todo:
            break
        rows = await session.execute(
            select(StoryRow.id, StoryRow.merged_into).where(
                StoryRow.id.in_(sorted(todo)), StoryRow.merged_into.is_not(None)
            )
        )
        found = {str(a): str(b) for a, b in rows.all() if b}
        out.update(found)
        todo = set(found.values())
    return out


def union_scope(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    """Every key of both scopes, their values united and sorted."""
    return {k: sorted(set(a.get(k, [])) | set(b.get(k, []))) for k in {*a, *b}}


async def merge_incidents(
    session: AsyncSession, target: IncidentRow, younger: Sequence[IncidentRow], *, story: str
) -> list[int]:
    """Close `younger` as merged into `target` (all open, of one story); return their ids."""
    now = datetime.now(UTC)
    merged: list[int] = []
    for row in younger:
        if row.id == target.id or row.status == "resolved":
            continue
        row.status = "resolved"
        row.resolved_at = now
        row.updated_at = now
        row.merged_into = target.id
        row.details = {**(row.details or {}), "merged_into": target.id}
        target.severity = worse(target.severity, row.severity)
        target.signal_count += row.signal_count
        target.mention_count = max(target.mention_count, row.mention_count)
        target.peak_score = max(target.peak_score, row.peak_score)
        target.scope = union_scope(target.scope or {}, row.scope or {})
        target.reasons = list(dict.fromkeys([*(target.reasons or []), *(row.reasons or [])]))
        target.details = _merged_details(target.details or {}, row)
        session.add(
            IncidentEventRow(
                incident_id=row.id,
                kind="merged",
                data={"into": target.id, "story": story, "severity": row.severity},
            )
        )
        session.add(
            IncidentEventRow(
                incident_id=target.id,
                kind="absorbed",
                data={"from": row.id, "story": story, "title": row.title},
            )
        )
        merged.append(row.id)
    if merged:
        target.updated_at = now
        await session.flush()  # the merged rows leave the open-story index first
    return merged


def _merged_details(details: dict[str, Any], row: IncidentRow) -> dict[str, Any]:
    other = row.details or {}
    firsts = [v for v in (details.get("first_signal_at"), other.get("first_signal_at")) if v]
    lasts = [v for v in (details.get("last_signal_at"), other.get("last_signal_at")) if v]
    out = {
        **details,
        "rules": list(dict.fromkeys([*details.get("rules", []), *other.get("rules", [])])),
        "merged_from": [*details.get("merged_from", []), row.id],
    }
    if firsts:
        out["first_signal_at"] = min(firsts)
    if lasts:
        out["last_signal_at"] = max(lasts)
    return out
