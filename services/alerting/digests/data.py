"""Gather a brand's digest figures from PostgreSQL: rollups, incidents, stories, mentions.

Volume and sentiment come from the hourly rollups' all-dimensions rows (one per brand and
hour), so a week costs 336 rows; phrases from the period's mention keywords; stories from
the `stories` table; share of voice against the competitors of the brand's stored watchlist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.digests.figures import (
    BrandFigures,
    DigestIncident,
    DigestStory,
    Measures,
    VoiceShare,
)
from services.alerting.digests.periods import Period, bucket_index, buckets
from shared.db.config_models import WatchlistRow
from shared.db.models import HourlyRollupRow, IncidentRow, StoryRow
from shared.db.rollups import ALL_DIMENSIONS

MAX_STORIES = 5
MAX_PHRASES = 10
IncidentLink = Callable[[int], str]

_PHRASES = text(
    "SELECT kw, count(*) AS n FROM mentions, unnest(keywords) AS kw "
    "WHERE brand = :brand AND created_at >= :start AND created_at < :end "
    "GROUP BY kw ORDER BY n DESC, kw LIMIT :limit"
)


async def _hourly(
    session: AsyncSession, brands: Sequence[str], period: Period
) -> list[HourlyRollupRow]:
    """The all-dimensions hourly rollup rows of `brands` in `period`."""
    return list(
        (
            await session.scalars(
                select(HourlyRollupRow).where(
                    HourlyRollupRow.brand.in_(list(brands)),
                    HourlyRollupRow.hour >= period.start,
                    HourlyRollupRow.hour < period.end,
                    HourlyRollupRow.topic == "",
                    HourlyRollupRow.platform == ALL_DIMENSIONS,
                    HourlyRollupRow.language == ALL_DIMENSIONS,
                )
            )
        ).all()
    )


def _measures(row: HourlyRollupRow) -> Measures:
    return Measures(row.volume, row.negative, row.neutral, row.positive)


async def series(session: AsyncSession, brand: str, period: Period) -> tuple[Measures, ...]:
    """The brand's measures per bucket of `period` (hours of a day, days of a week)."""
    out = [Measures()] * len(buckets(period))
    for row in await _hourly(session, [brand], period):
        index = bucket_index(period, row.hour)
        if index is not None and index < len(out):
            out[index] = out[index] + _measures(row)
    return tuple(out)


async def competitors(session: AsyncSession, brand: str) -> list[str]:
    """The competitors listed in the brand's stored watchlist."""
    definition = await session.scalar(
        select(WatchlistRow.definition).where(WatchlistRow.brand == brand)
    )
    raw = (definition or {}).get("competitors") or []
    return [str(c) for c in dict.fromkeys(raw) if isinstance(c, str) and c and c != brand]


async def share_of_voice(
    session: AsyncSession, brand: str, period: Period
) -> tuple[VoiceShare, ...]:
    """The brand's and its competitors' volume shares (empty without competitors)."""
    rivals = await competitors(session, brand)
    if not rivals:
        return ()
    everyone = [brand, *rivals]
    totals = dict.fromkeys(everyone, 0)
    for row in await _hourly(session, everyone, period):
        totals[row.brand] += row.volume
    total = sum(totals.values())
    return tuple(VoiceShare(b, totals[b], totals[b] / total if total else 0.0) for b in everyone)


async def incidents(
    session: AsyncSession, brand: str, period: Period, link: IncidentLink
) -> dict[str, tuple[DigestIncident, ...]]:
    """Incidents opened, resolved and dismissed in the period, and those open now."""
    rows = (
        await session.scalars(
            select(IncidentRow)
            .where(
                IncidentRow.brand == brand,
                or_(
                    IncidentRow.status != "resolved",
                    IncidentRow.opened_at.between(period.start, period.end),
                    IncidentRow.resolved_at.between(period.start, period.end),
                ),
            )
            .order_by(IncidentRow.severity, IncidentRow.opened_at)
        )
    ).all()

    def inside(at: object) -> bool:
        return at is not None and period.start <= at < period.end  # type: ignore[operator]

    def item(row: IncidentRow) -> DigestIncident:
        status = "dismissed" if row.dismissed_at is not None else row.status
        return DigestIncident(
            id=row.id,
            severity=row.severity,
            title=row.title,
            status=status,
            owner=row.owner,
            opened_at=row.opened_at,
            link=link(row.id),
            resolved_at=row.resolved_at,
            dismissal_reason=row.dismissal_reason,
        )

    closed = [r for r in rows if r.status == "resolved" and inside(r.resolved_at)]
    return {
        "opened": tuple(item(r) for r in rows if inside(r.opened_at)),
        "resolved": tuple(item(r) for r in closed if r.dismissed_at is None),
        "dismissed": tuple(item(r) for r in closed if r.dismissed_at is not None),
        "open_now": tuple(item(r) for r in rows if r.status != "resolved"),
    }


async def top_stories(session: AsyncSession, brand: str, period: Period) -> tuple[DigestStory, ...]:
    """The brand's largest stories seen in the period (merged ones count in their target).

    The brand's background story (its ordinary talk) is not one of them.
    """
    rows = (
        await session.scalars(
            select(StoryRow)
            .where(
                StoryRow.brand == brand,
                StoryRow.merged_into.is_(None),
                StoryRow.background.is_(False),
                StoryRow.last_seen >= period.start,
                StoryRow.first_seen < period.end,
            )
            .order_by(StoryRow.volume.desc(), StoryRow.id)
            .limit(MAX_STORIES)
        )
    ).all()
    return tuple(
        DigestStory(
            label=row.label,
            volume=int(row.volume),
            negative_share=float(row.negative_share or 0.0),
            phrases=tuple(row.top_phrases or ()),
        )
        for row in rows
    )


async def top_phrases(
    session: AsyncSession, brand: str, period: Period
) -> tuple[tuple[str, int], ...]:
    """The keywords most mentions of the brand carried in the period."""
    result = await session.execute(
        _PHRASES,
        {"brand": brand, "start": period.start, "end": period.end, "limit": MAX_PHRASES},
    )
    return tuple((str(kw), int(n)) for kw, n in result.all())


async def gather(
    session: AsyncSession,
    brand: str,
    period: Period,
    *,
    link: IncidentLink,
    overview_link: str = "",
) -> BrandFigures:
    """Everything the brand's digest of `period` reports."""
    previous = period.previous()
    now_series = await series(session, brand, period)
    before_series = await series(session, brand, previous)
    found = await incidents(session, brand, period, link)
    return BrandFigures(
        brand=brand,
        period=period,
        current=sum(now_series, Measures()),
        previous=sum(before_series, Measures()),
        series=now_series,
        previous_series=before_series,
        opened=found["opened"],
        resolved=found["resolved"],
        dismissed=found["dismissed"],
        open_now=found["open_now"],
        stories=await top_stories(session, brand, period),
        phrases=await top_phrases(session, brand, period),
        voice=await share_of_voice(session, brand, period),
        overview_link=overview_link,
    )


async def digest_brands(session: AsyncSession, period: Period) -> list[str]:
    """Brands with a digest: every stored watchlist's, and every brand with incidents."""
    watched = (await session.scalars(select(WatchlistRow.brand))).all()
    with_incidents = (
        await session.scalars(
            select(func.distinct(IncidentRow.brand)).where(
                IncidentRow.category != "competitor",
                or_(
                    IncidentRow.status != "resolved",
                    IncidentRow.opened_at.between(period.start, period.end),
                    IncidentRow.resolved_at.between(period.start, period.end),
                ),
            )
        )
    ).all()
    return sorted({*watched, *with_incidents})
