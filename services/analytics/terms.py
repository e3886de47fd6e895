"""Rising terms: keywords and hashtags whose recent rate beats the baseline (smoothed lift)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics.mentions import brand_match
from services.analytics.schemas import RisingTerm, RisingTermsRead
from shared.db.models import MentionRow
from shared.errors import BadInput


async def _term_counts(
    session: AsyncSession,
    *,
    column: Any,
    brand: str,
    start: datetime,
    end: datetime,
    terms: Sequence[str] | None,
    limit: int,
) -> dict[str, int]:
    term = func.unnest(column).table_valued("term").render_derived(name="t")
    stmt = (
        select(term.c.term, func.count(func.distinct(MentionRow.id)).label("n"))
        .select_from(MentionRow)
        .join(term, true())
        .where(brand_match(brand), MentionRow.created_at >= start, MentionRow.created_at < end)
        .group_by(term.c.term)
        .order_by(func.count(func.distinct(MentionRow.id)).desc(), term.c.term)
    )
    if terms is not None:
        if not terms:
            return {}
        stmt = stmt.where(term.c.term.in_(list(terms)))
    else:
        stmt = stmt.limit(limit)
    return {str(r.term): int(r.n) for r in (await session.execute(stmt)).all()}


async def _mention_count(
    session: AsyncSession, *, brand: str, start: datetime, end: datetime
) -> int:
    stmt = (
        select(func.count())
        .select_from(MentionRow)
        .where(brand_match(brand), MentionRow.created_at >= start, MentionRow.created_at < end)
    )
    return int((await session.execute(stmt)).scalar_one())


def smoothed_lift(
    recent: int, baseline: int, *, recent_total: int, baseline_total: int, alpha: float = 1.0
) -> float:
    """Ratio of the term's per-mention rate now vs the baseline, with add-alpha smoothing."""
    recent_rate = (recent + alpha) / (recent_total + alpha)
    baseline_rate = (baseline + alpha) / (baseline_total + alpha)
    return recent_rate / baseline_rate


async def rising_terms(
    session: AsyncSession,
    *,
    brand: str,
    end: datetime,
    window: timedelta,
    baseline: timedelta,
    limit: int = 20,
    min_count: int = 2,
) -> RisingTermsRead:
    """Keywords and hashtags whose recent rate most exceeds the baseline rate (smoothed lift)."""
    if window <= timedelta(0) or baseline <= timedelta(0):
        raise BadInput("window and baseline must be positive")
    try:
        end = end.astimezone(UTC)
        recent_start = end - window
        baseline_start = recent_start - baseline
    except (OverflowError, ValueError) as exc:
        raise BadInput("end, window and baseline are outside the supported date range") from exc
    recent_total = await _mention_count(session, brand=brand, start=recent_start, end=end)
    baseline_total = await _mention_count(
        session, brand=brand, start=baseline_start, end=recent_start
    )
    out: dict[str, list[RisingTerm]] = {}
    for name, column in (("keywords", MentionRow.keywords), ("hashtags", MentionRow.hashtags)):
        recent = await _term_counts(
            session, column=column, brand=brand, start=recent_start, end=end, terms=None, limit=500
        )
        recent = {t: n for t, n in recent.items() if n >= min_count}
        before = await _term_counts(
            session,
            column=column,
            brand=brand,
            start=baseline_start,
            end=recent_start,
            terms=list(recent),
            limit=0,
        )
        ranked = [
            RisingTerm(
                term=t,
                recent=n,
                baseline=before.get(t, 0),
                lift=round(
                    smoothed_lift(
                        n,
                        before.get(t, 0),
                        recent_total=recent_total,
                        baseline_total=baseline_total,
                    ),
                    3,
                ),
            )
            for t, n in recent.items()
        ]
        ranked = [r for r in ranked if r.lift > 1.0 and math.isfinite(r.lift)]
        ranked.sort(key=lambda r: (-r.lift, -r.recent, r.term))
        out[name] = ranked[:limit]
    return RisingTermsRead(
        brand=brand,
        recent_start=recent_start,
        baseline_start=baseline_start,
        end=end,
        recent_mentions=recent_total,
        baseline_mentions=baseline_total,
        keywords=out["keywords"],
        hashtags=out["hashtags"],
    )
