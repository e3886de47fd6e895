"""Detector state in PostgreSQL: load and save `detector_state` rows, read rollups to rebuild."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.detect.signals import RollupMinute
from shared.db.models import DetectorStateRow, RollupRow


async def load_brand_state(session: AsyncSession, brand: str) -> dict[str, dict[str, Any]]:
    """Return every stored detector state of `brand`, keyed by `state_key`."""
    stmt = select(DetectorStateRow.key, DetectorStateRow.state).where(
        DetectorStateRow.key.startswith(f"{brand}|", autoescape=True)
    )
    return {key: state for key, state in (await session.execute(stmt)).all()}


async def save_states(session: AsyncSession, rows: Mapping[str, dict[str, Any]]) -> None:
    """Upsert detector states inside the caller's transaction."""
    if not rows:
        return
    stmt = insert(DetectorStateRow).values(
        [{"key": key, "state": state} for key, state in rows.items()]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"state": stmt.excluded.state, "updated_at": func.now()},
        )
    )


async def load_rollups(
    session: AsyncSession, brand: str, *, since: datetime, until: datetime
) -> list[RollupMinute]:
    """Return the brand's per-minute rollups in [since, until), summed over platform/language."""
    r = RollupRow
    stmt = (
        select(
            r.minute,
            r.topic,
            func.sum(r.volume),
            func.sum(r.negative),
            func.sum(r.volume - r.unscored),
            func.sum(r.anger + r.fear),
            # Rollups keep engagement of all posts: attribute it pro rata to negatives.
            func.sum(r.engagement * r.negative / func.greatest(r.volume, 1)),
            func.sum(r.distinct_authors),
        )
        .where(r.brand == brand, r.minute >= since, r.minute < until)
        .group_by(r.minute, r.topic)
        .order_by(r.minute)
    )
    return [
        RollupMinute(
            start=minute.timestamp(),
            topic=topic,
            count=int(vol or 0),
            negatives=int(neg or 0),
            scored=int(scored or 0),
            burst=float(burst or 0.0),
            neg_engagement=float(eng or 0.0),
            distinct_authors=int(authors or 0),
        )
        for minute, topic, vol, neg, scored, burst, eng, authors in (
            await session.execute(stmt)
        ).all()
    ]
