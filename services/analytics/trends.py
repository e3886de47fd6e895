"""Trends: per-bucket sentiment, volume, emotions and engagement of brands, from the rollups.

The trend read is the one query that does not go through SQLAlchemy expressions: its
thousands of rows go through the driver connection as SQL built from this module's
constants (values still bound).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics.by_market import market_trend_query
from services.analytics.ranges import (
    MAX_RANGE,
    MINUTE_ROLLUPS,
    align_range,
    rollup_source,
    utc_range,
)
from services.analytics.schemas import Resolution, TrendsRead
from services.analytics.trend_points import EMOTION_COLUMNS, trend_points
from shared.db.engine import driver_connection
from shared.db.rollups import ALL_DIMENSIONS
from shared.errors import BadInput

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
    coarse = source is not MINUTE_ROLLUPS
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
    markets: Sequence[str] = (),
) -> _Trends:
    if not brands:
        raise BadInput("give at least one brand")
    start, end = utc_range(start, end, max_span=MAX_RANGE[resolution])
    start, end = align_range(start, end, resolution)
    unique_brands = list(dict.fromkeys(brands))
    filters: dict[str, Any] = {
        "brands": unique_brands,
        "start": start,
        "end": end,
        "resolution": resolution,
        "topic": topic,
        "platforms": platforms,
        "languages": languages,
    }
    # A market filter reads the mentions (the rollups have no market dimension).
    if markets:
        sql, args = market_trend_query(markets=markets, **filters)
    else:
        sql, args = trend_query(**filters)
    # The driver connection: thousands of rows skip SQLAlchemy's row and ORM layers.
    rows = await (await driver_connection(session)).fetch(sql, *args)
    points: dict[str, list[dict[str, Any]]] = {b: [] for b in unique_brands}
    points.update(trend_points(rows))
    return _Trends(start, end, resolution, topic, points)


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
    markets: Sequence[str] = (),
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
        markets=markets,
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
    markets: Sequence[str] = (),
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
        markets=markets,
    )
    return orjson.dumps(read.payload(), option=orjson.OPT_UTC_Z)
