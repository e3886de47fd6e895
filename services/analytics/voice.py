"""Share of voice: a brand's volume against its competitors' (from the query or the watchlist)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics.by_market import market_volume_query
from services.analytics.ranges import (
    MAX_RANGE,
    align_range,
    dimension_filters,
    rollup_source,
    utc_range,
)
from services.analytics.schemas import ShareOfVoiceRead, VoiceShare
from shared.db.config_models import WatchlistRow
from shared.db.engine import driver_connection


async def watchlist_competitors(session: AsyncSession, brand: str) -> list[str]:
    """The competitors listed in `brand`'s stored watchlist (empty when there is none)."""
    definition = await session.scalar(
        select(WatchlistRow.definition).where(WatchlistRow.brand == brand)
    )
    if not definition:
        return []
    raw = definition.get("competitors") or []
    return [str(c) for c in raw if isinstance(c, str) and c]


async def share_of_voice(
    session: AsyncSession,
    *,
    brand: str,
    competitors: Sequence[str],
    start: datetime,
    end: datetime,
    topic: str = "",
    platforms: Sequence[str] = (),
    languages: Sequence[str] = (),
    markets: Sequence[str] = (),
) -> ShareOfVoiceRead:
    """Volume share of `brand` against its competitors (query or watchlist) over a range.

    With `markets`, volumes are counted from the stored mentions of those markets.
    """
    start, end = utc_range(start, end, max_span=MAX_RANGE["day"])
    source: Literal["query", "watchlist", "none"] = "query"
    rivals = [c for c in dict.fromkeys(competitors) if c != brand]
    if not competitors:
        rivals = [c for c in await watchlist_competitors(session, brand) if c != brand]
        source = "watchlist" if rivals else "none"
    everyone = [brand, *rivals]
    if end - start > timedelta(days=2):
        # Long ranges are counted in whole hours so they read the hourly rollups.
        start, end = align_range(start, end, "hour")
    if markets:
        totals = await _market_totals(
            session,
            brands=everyone,
            start=start,
            end=end,
            markets=markets,
            topic=topic,
            platforms=platforms,
            languages=languages,
        )
    else:
        totals = await _rollup_totals(
            session,
            brands=everyone,
            start=start,
            end=end,
            topic=topic,
            platforms=platforms,
            languages=languages,
        )
    total = sum(v for v, _ in totals.values())
    shares = []
    for b in everyone:
        volume, negative = totals.get(b, (0, 0))
        shares.append(
            VoiceShare(
                brand=b,
                volume=volume,
                share=round(volume / total, 4) if total else 0.0,
                negative_share=round(negative / volume, 4) if volume else 0.0,
            )
        )
    return ShareOfVoiceRead(
        brand=brand,
        competitors=rivals,
        competitors_from=source,
        start=start,
        end=end,
        total_volume=total,
        shares=shares,
    )


async def _market_totals(
    session: AsyncSession, *, brands: Sequence[str], **filters: Any
) -> dict[str, tuple[int, int]]:
    """(volume, negative) per brand from the mentions of the given markets."""
    sql, args = market_volume_query(brands=brands, **filters)
    rows = await (await driver_connection(session)).fetch(sql, *args)
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


async def _rollup_totals(
    session: AsyncSession,
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    topic: str,
    platforms: Sequence[str],
    languages: Sequence[str],
) -> dict[str, tuple[int, int]]:
    """(volume, negative) per brand from the rollups."""
    everyone = list(brands)
    src = rollup_source(start, end, None)
    stmt = (
        select(
            src.column("brand"),
            func.sum(src.column("volume")).label("volume"),
            func.sum(src.column("negative")).label("negative"),
        )
        .where(
            src.column("brand").in_(everyone),
            src.time >= start,
            src.time < end,
            *dimension_filters(src, topic=topic, platforms=platforms, languages=languages),
        )
        .group_by(src.column("brand"))
    )
    return {
        row.brand: (int(row.volume), int(row.negative))
        for row in (await session.execute(stmt)).all()
    }
