"""Read models of the sentiment data: trends and share of voice from the per-minute rollups,
rising terms and mention search from the stored mentions.

Every query is a SQLAlchemy expression with bound parameters, except the trend read: its
thousands of rows go through the driver connection as SQL built from this module's
constants (values still bound). Inputs are validated here (ranges, resolutions, cursors) so
the routes stay thin and bad input is a 4xx.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.engine import driver_connection
from shared.db.models import (
    DailyRollupRow,
    HourlyRollupRow,
    MentionRow,
    RollupRow,
    WatchlistRow,
)
from shared.db.rollups import ALL_DIMENSIONS, truncate
from shared.errors import BadInput
from shared.schemas import EMOTIONS

Resolution = Literal["minute", "hour", "day"]
SentimentFilter = Literal["negative", "neutral", "positive", "unscored"]
EMOTION_COLUMNS: tuple[str, ...] = tuple(e for e in EMOTIONS if e != "neutral")
# Longest range per resolution, so one call returns at most a few thousand points per brand.
MAX_RANGE: dict[str, timedelta] = {
    "minute": timedelta(days=3),
    "hour": timedelta(days=400),
    "day": timedelta(days=3660),
}
_CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


class TrendPoint(BaseModel):
    """Aggregates of one brand over one time bucket."""

    bucket: datetime = Field(description="start of the bucket (UTC)")
    volume: int
    negative: int
    neutral: int
    positive: int
    unscored: int
    mean_score: float | None = Field(description="mean sentiment of scored mentions, -1..1")
    emotions: dict[str, float] = Field(description="mean emotion probability per mention")
    engagement: int
    reach: int


class TrendSeries(BaseModel):
    """The time series of one brand."""

    brand: str
    points: list[TrendPoint]
    total_volume: int


class TrendsRead(BaseModel):
    """Output of `GET /v1/trends`."""

    start: datetime
    end: datetime
    resolution: Resolution
    topic: str
    series: list[TrendSeries]


class VoiceShare(BaseModel):
    """One brand's volume and share of the compared set."""

    brand: str
    volume: int
    share: float = Field(description="volume / total volume of all compared brands, 0..1")
    negative_share: float = Field(description="share of this brand's volume that is negative")


class ShareOfVoiceRead(BaseModel):
    """Output of `GET /v1/share-of-voice`."""

    brand: str
    competitors: list[str]
    competitors_from: Literal["query", "watchlist", "none"]
    start: datetime
    end: datetime
    total_volume: int
    shares: list[VoiceShare]


class RisingTerm(BaseModel):
    """A term that appears more often recently than in the baseline."""

    term: str
    recent: int = Field(description="mentions with the term in the recent window")
    baseline: int = Field(description="mentions with the term in the baseline window")
    lift: float = Field(description="smoothed ratio of recent to baseline rate")


class RisingTermsRead(BaseModel):
    """Output of `GET /v1/rising-terms`."""

    brand: str
    recent_start: datetime
    baseline_start: datetime
    end: datetime
    recent_mentions: int
    baseline_mentions: int
    keywords: list[RisingTerm]
    hashtags: list[RisingTerm]


class MentionRead(BaseModel):
    """A stored mention as returned by search (author ids are pseudonymous)."""

    id: int
    platform: str
    external_id: str
    brand: str
    brands: list[str]
    url: str | None
    author_id: str
    author_handle: str | None = Field(description="only when the deployment enables handles")
    author_reach: int | None
    text: str
    language: str
    created_at: datetime
    sentiment_label: str | None
    sentiment_score: float | None
    emotion: str | None
    topics: list[str]
    keywords: list[str]
    hashtags: list[str]
    likes: int
    shares: int
    replies: int
    views: int


class MentionPage(BaseModel):
    """One page of search results; pass `next_cursor` as `cursor` for the next page."""

    items: list[MentionRead]
    next_cursor: str | None


class MentionFilter(BaseModel):
    """Search criteria of `GET /v1/mentions`."""

    brand: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    sentiment: SentimentFilter | None = None
    emotion: str | None = None
    topic: str | None = None
    language: str | None = None
    platform: str | None = None
    min_reach: int | None = None
    q: str | None = None


def utc_range(start: datetime, end: datetime, *, max_span: timedelta) -> tuple[datetime, datetime]:
    """Validate an aware [start, end) range no longer than `max_span`; return it in UTC."""
    try:
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadInput("start/end are outside the supported date range") from exc
    if start_utc >= end_utc:
        raise BadInput("start must be before end")
    if end_utc - start_utc > max_span:
        raise BadInput(f"the range may span at most {max_span.days} days at this resolution")
    return start_utc, end_utc


@dataclass(frozen=True)
class RollupSource:
    """Which rollup table answers a query, and its time column."""

    model: Any
    time: Any

    def column(self, name: str) -> Any:
        """A column of the chosen table."""
        return getattr(self.model, name)


_MINUTE = RollupSource(RollupRow, RollupRow.minute)
_HOUR = RollupSource(HourlyRollupRow, HourlyRollupRow.hour)
_DAY = RollupSource(DailyRollupRow, DailyRollupRow.day)


def _aligned(ts: datetime, unit: str) -> bool:
    return ts == truncate(ts, unit)


def rollup_source(start: datetime, end: datetime, resolution: Resolution | None) -> RollupSource:
    """The coarsest rollup table that answers [start, end) exactly at `resolution`."""
    if resolution == "minute":
        return _MINUTE
    if resolution in (None, "day") and _aligned(start, "day") and _aligned(end, "day"):
        return _DAY
    if _aligned(start, "hour") and _aligned(end, "hour"):
        return _HOUR
    return _MINUTE


def align_range(
    start: datetime, end: datetime, resolution: Resolution
) -> tuple[datetime, datetime]:
    """Widen [start, end) to whole buckets: bucketed series always show complete buckets."""
    if resolution == "minute":
        unit_start = start.replace(second=0, microsecond=0)
        ceil = end.replace(second=0, microsecond=0)
        step = timedelta(minutes=1)
    else:
        unit_start = truncate(start, resolution)
        ceil = truncate(end, resolution)
        step = timedelta(hours=1) if resolution == "hour" else timedelta(days=1)
    if ceil < end:
        ceil += step
    return unit_start, ceil


def _dimension_filters(
    source: RollupSource, *, topic: str, platforms: Sequence[str], languages: Sequence[str]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [source.column("topic") == topic]
    platform, language = source.column("platform"), source.column("language")
    if source is not _MINUTE and not platforms and not languages:
        # Unfiltered: the precomputed all-dimensions rows, one per bucket.
        return [*conditions, platform == ALL_DIMENSIONS, language == ALL_DIMENSIONS]
    if platforms:
        conditions.append(platform.in_([p for p in platforms if p != ALL_DIMENSIONS]))
    elif source is not _MINUTE:
        conditions.append(platform != ALL_DIMENSIONS)
    if languages:
        conditions.append(language.in_([lang for lang in languages if lang != ALL_DIMENSIONS]))
    elif source is not _MINUTE:
        conditions.append(language != ALL_DIMENSIONS)
    return conditions


# Column order of `trend_query` rows: brand, bucket, then these measures.
_TREND_SUMS = ("volume", "negative", "neutral", "positive", "unscored", "sentiment_sum",
               *EMOTION_COLUMNS, "engagement", "reach")  # fmt: skip


@functools.cache
def _trend_sql(
    table: str, time: str, bucket: str, *, grouped: bool, dimensions: tuple[str, ...]
) -> str:
    """SELECT of the trend measures per (brand, bucket); ungrouped reads stored rows as is."""
    measures = ", ".join(f"sum({c})" if grouped else c for c in _TREND_SUMS)
    where = " AND ".join(
        ("brand = ANY($1::varchar[])", f"{time} >= $2", f"{time} < $3", "topic = $4", *dimensions)
    )
    group_by = "GROUP BY 1, 2 " if grouped else ""
    # Names and fragments come from the constants in this module; values are bound parameters.
    return (
        f"SELECT brand, {bucket} AS bucket, {measures} FROM {table} "  # noqa: S608
        f"WHERE {where} {group_by}ORDER BY 1, 2"
    )


def trend_query(
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    resolution: Resolution,
    topic: str = "",
    platforms: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> tuple[str, list[Any]]:
    """SQL and parameters of the rollup read behind `trends` (exposed for EXPLAIN in benchmarks)."""
    source = rollup_source(start, end, resolution)
    table, time = source.model.__tablename__, source.time.key
    args: list[Any] = [list(brands), start, end, topic]
    coarse = source is not _MINUTE
    # Every writer stores a rollup row at the start of its UTC minute, hour or day, and the
    # time column is named after its unit: at their own unit rows are their bucket, so no
    # date_trunc, and they come in primary-key order (grouping needs no sort).
    native = time == resolution
    bucket = time if native else f"date_trunc('{resolution}', {time}, 'UTC')"
    if coarse and not platforms and not languages:
        # The precomputed all-dimensions rows: exactly one per native bucket.
        everything = (f"platform = '{ALL_DIMENSIONS}'", f"language = '{ALL_DIMENSIONS}'")
        return _trend_sql(table, time, bucket, grouped=not native, dimensions=everything), args
    dimensions = []
    for column, values in (("platform", platforms), ("language", languages)):
        if values:
            args.append([v for v in values if v != ALL_DIMENSIONS])
            dimensions.append(f"{column} = ANY(${len(args)}::varchar[])")
        elif coarse:
            dimensions.append(f"{column} <> '{ALL_DIMENSIONS}'")
    return _trend_sql(table, time, bucket, grouped=True, dimensions=tuple(dimensions)), args


@dataclass(frozen=True)
class _Trends:
    """The validated request and its points per brand, as plain JSON-ready values."""

    start: datetime
    end: datetime
    resolution: Resolution
    topic: str
    points: dict[str, list[dict[str, Any]]]

    def payload(self) -> dict[str, Any]:
        """The `TrendsRead` document: same fields, same order."""
        series = [
            {"brand": b, "points": p, "total_volume": sum(x["volume"] for x in p)}
            for b, p in self.points.items()
        ]
        return {
            "start": self.start,
            "end": self.end,
            "resolution": self.resolution,
            "topic": self.topic,
            "series": series,
        }


async def _read_trends(
    session: AsyncSession,
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    resolution: Resolution,
    topic: str,
    platforms: Sequence[str],
    languages: Sequence[str],
) -> _Trends:
    if not brands:
        raise BadInput("give at least one brand")
    start, end = utc_range(start, end, max_span=MAX_RANGE[resolution])
    start, end = align_range(start, end, resolution)
    unique_brands = list(dict.fromkeys(brands))
    sql, args = trend_query(
        brands=unique_brands,
        start=start,
        end=end,
        resolution=resolution,
        topic=topic,
        platforms=platforms,
        languages=languages,
    )
    # The driver connection: thousands of rows skip SQLAlchemy's row and ORM layers.
    rows = await (await driver_connection(session)).fetch(sql, *args)
    points: dict[str, list[dict[str, Any]]] = {b: [] for b in unique_brands}
    for row in rows:
        points[row[0]].append(_trend_point(row))
    return _Trends(start, end, resolution, topic, points)


def _trend_point(row: Sequence[Any]) -> dict[str, Any]:
    """One bucket of a trend as `TrendPoint` fields (hot path: a plain dict, no model)."""
    _, bucket, volume, negative, neutral, positive, unscored, total, *emotions, eng, reach = row
    scored = negative + neutral + positive
    return {
        "bucket": bucket,
        "volume": volume,
        "negative": negative,
        "neutral": neutral,
        "positive": positive,
        "unscored": unscored,
        # Float columns (and their sums) arrive as float, integer columns as int.
        "mean_score": round(total / scored, 4) if scored else None,
        "emotions": dict(
            zip(EMOTION_COLUMNS, [round(e / volume, 4) for e in emotions], strict=True)
        )
        if volume
        else dict.fromkeys(EMOTION_COLUMNS, 0.0),
        # Sums of bigint columns are numeric, so they arrive as Decimal.
        "engagement": int(eng),
        "reach": int(reach),
    }


async def trends(
    session: AsyncSession,
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    resolution: Resolution,
    topic: str = "",
    platforms: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> TrendsRead:
    """Per-bucket sentiment, volume, emotions and engagement of each brand, from the rollups."""
    read = await _read_trends(
        session,
        brands=brands,
        start=start,
        end=end,
        resolution=resolution,
        topic=topic,
        platforms=platforms,
        languages=languages,
    )
    return TrendsRead.model_validate(read.payload())


async def trends_json(
    session: AsyncSession,
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    resolution: Resolution,
    topic: str = "",
    platforms: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> bytes:
    """`trends` encoded as the JSON of `TrendsRead`, without building a model per point.

    orjson writes floats, UTC datetimes (`Z`) and strings as pydantic does; a test holds the
    two encodings byte for byte equal.
    """
    read = await _read_trends(
        session,
        brands=brands,
        start=start,
        end=end,
        resolution=resolution,
        topic=topic,
        platforms=platforms,
        languages=languages,
    )
    return orjson.dumps(read.payload(), option=orjson.OPT_UTC_Z)


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
) -> ShareOfVoiceRead:
    """Volume share of `brand` against its competitors (query or watchlist) over a range."""
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
            *_dimension_filters(src, topic=topic, platforms=platforms, languages=languages),
        )
        .group_by(src.column("brand"))
    )
    totals = {
        row.brand: (int(row.volume), int(row.negative))
        for row in (await session.execute(stmt)).all()
    }
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


def _brand_match(brand: str) -> ColumnElement[bool]:
    return MentionRow.brands.contains([brand])


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
        .where(_brand_match(brand), MentionRow.created_at >= start, MentionRow.created_at < end)
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
        .where(_brand_match(brand), MentionRow.created_at >= start, MentionRow.created_at < end)
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


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(created_at: datetime, mention_id: int) -> str:
    """Opaque keyset cursor on (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), mention_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Parse a cursor made by `encode_cursor`; raise `BadInput` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_iso, mention_id = json.loads(raw)
        created_at = datetime.fromisoformat(created_iso)
        if created_at.tzinfo is None or not isinstance(mention_id, int):
            raise ValueError("bad cursor")
        return created_at, mention_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadInput("cursor is not valid; use the next_cursor of a previous page") from exc


def _search_conditions(f: MentionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.brand:
        conditions.append(_brand_match(f.brand))
    if f.start is not None or f.end is not None:
        try:
            if f.start is not None:
                conditions.append(MentionRow.created_at >= f.start.astimezone(UTC))
            if f.end is not None:
                conditions.append(MentionRow.created_at < f.end.astimezone(UTC))
        except (OverflowError, ValueError) as exc:
            raise BadInput("start/end are outside the supported date range") from exc
    if f.sentiment == "unscored":
        conditions.append(MentionRow.sentiment_label.is_(None))
    elif f.sentiment:
        conditions.append(MentionRow.sentiment_label == f.sentiment)
    if f.emotion:
        conditions.append(MentionRow.emotion == f.emotion)
    if f.topic:
        conditions.append(MentionRow.topics.contains([f.topic]))
    if f.language:
        conditions.append(MentionRow.language == f.language)
    if f.platform:
        conditions.append(MentionRow.platform == f.platform)
    if f.min_reach is not None:
        conditions.append(MentionRow.author_reach >= f.min_reach)
    if f.q:
        pattern = f"%{escape_like(f.q)}%"
        conditions.append(
            or_(
                MentionRow.text.ilike(pattern, escape="\\"),
                MentionRow.keywords.contains([f.q.lower()]),
            )
        )
    return conditions


def _to_read(row: MentionRow, *, show_handles: bool) -> MentionRead:
    return MentionRead(
        id=row.id,
        platform=row.platform,
        external_id=row.external_id,
        brand=row.brand,
        brands=list(row.brands),
        url=row.url,
        author_id=row.author_id,
        author_handle=row.author_handle if show_handles else None,
        author_reach=row.author_reach,
        text=row.text,
        language=row.language,
        created_at=row.created_at,
        sentiment_label=row.sentiment_label,
        sentiment_score=row.sentiment_score,
        emotion=row.emotion,
        topics=list(row.topics or []),
        keywords=list(row.keywords or []),
        hashtags=list(row.hashtags or []),
        likes=row.likes,
        shares=row.shares,
        replies=row.replies,
        views=row.views,
    )


async def search_mentions(
    session: AsyncSession,
    *,
    criteria: MentionFilter,
    limit: int,
    cursor: str | None = None,
    show_handles: bool = False,
) -> MentionPage:
    """Mentions matching `criteria`, newest first, keyset-paginated on (created_at, id)."""
    stmt = select(MentionRow).where(*_search_conditions(criteria))
    if cursor:
        created_at, mention_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(MentionRow.created_at, MentionRow.id) < (created_at, mention_id))
    stmt = stmt.order_by(MentionRow.created_at.desc(), MentionRow.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return MentionPage(
        items=[_to_read(r, show_handles=show_handles) for r in rows], next_cursor=next_cursor
    )


CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "platform",
    "brand",
    "author_id",
    "author_reach",
    "language",
    "sentiment_label",
    "sentiment_score",
    "emotion",
    "topics",
    "hashtags",
    "likes",
    "shares",
    "replies",
    "views",
    "url",
    "text",
)


def safe_cell(value: Any) -> str:
    """A CSV cell that spreadsheets will not evaluate as a formula."""
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    if text.startswith(_CSV_DANGEROUS):
        return "'" + text
    return text


def mentions_csv(page: MentionPage) -> str:
    """The page as CSV with a header row; every cell is formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in page.items:
        data = item.model_dump()
        # Numbers are data; only prefix text cells (a negative score stays a number).
        writer.writerow(
            [
                data[c]
                if isinstance(data[c], int | float) and not isinstance(data[c], bool)
                else safe_cell(data[c])
                for c in CSV_COLUMNS
            ]
        )
    return buffer.getvalue()
