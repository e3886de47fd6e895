"""Trend and volume reads filtered by market, from the stored mentions.

The rollups have no market dimension (a mention may count in several markets), so a
`market` filter reads the `mentions` rows themselves: each mention counts once per brand
it names, as in the rollups, when one of its markets is asked for. Same measures, same
column order as the rollup reads; a mention without a market is in no market.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.analytics.schemas import Resolution
from shared.schemas import EMOTIONS

_EMOTIONS = tuple(e for e in EMOTIONS if e != "neutral")
_MEASURES = (
    "count(*)",
    "count(*) FILTER (WHERE m.sentiment_label = 'negative')",
    "count(*) FILTER (WHERE m.sentiment_label = 'neutral')",
    "count(*) FILTER (WHERE m.sentiment_label = 'positive')",
    "count(*) FILTER (WHERE m.sentiment_label IS NULL)",
    "coalesce(sum(m.sentiment_score), 0.0)",
    *(f"coalesce(sum((m.emotions->>'{e}')::float8), 0.0)" for e in _EMOTIONS),
    "coalesce(sum(m.likes + m.shares + m.replies), 0)",
    "coalesce(sum(coalesce(m.author_reach, 0)), 0)",
)
_RESOLUTIONS = frozenset({"minute", "hour", "day"})


def _where(
    args: list[Any], *, topic: str, platforms: Sequence[str], languages: Sequence[str]
) -> str:
    """Conditions after brand, time and market ($1-$4); appends their values to `args`."""
    conditions = [
        "b.brand = ANY($1::varchar[])",
        "m.created_at >= $2",
        "m.created_at < $3",
        "m.markets && $4::varchar[]",
    ]
    if topic:
        args.append(topic)
        conditions.append(f"${len(args)} = ANY(m.topics)")
    for column, values in (("platform", platforms), ("language", languages)):
        if values:
            args.append(list(values))
            conditions.append(f"m.{column} = ANY(${len(args)}::varchar[])")
    return " AND ".join(conditions)


def market_trend_query(
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    resolution: Resolution,
    markets: Sequence[str],
    topic: str = "",
    platforms: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> tuple[str, list[Any]]:
    """SQL and parameters: rows of (brand, bucket, trend measures) like `trend_query`'s."""
    if resolution not in _RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}")
    args: list[Any] = [list(brands), start, end, [m.upper() for m in markets]]
    where = _where(args, topic=topic, platforms=platforms, languages=languages)
    bucket = f"date_trunc('{resolution}', m.created_at, 'UTC')"
    # Fragments are this module's constants; values are bound parameters.
    sql = (
        f"SELECT b.brand, {bucket} AS bucket, {', '.join(_MEASURES)} "  # noqa: S608
        "FROM mentions m CROSS JOIN LATERAL unnest(m.brands) AS b(brand) "
        f"WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return sql, args


def market_volume_query(
    *,
    brands: Sequence[str],
    start: datetime,
    end: datetime,
    markets: Sequence[str],
    topic: str = "",
    platforms: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> tuple[str, list[Any]]:
    """SQL and parameters: rows of (brand, volume, negative) over the whole range."""
    args: list[Any] = [list(brands), start, end, [m.upper() for m in markets]]
    where = _where(args, topic=topic, platforms=platforms, languages=languages)
    sql = (
        f"SELECT b.brand, {_MEASURES[0]}, {_MEASURES[1]} "  # noqa: S608
        "FROM mentions m CROSS JOIN LATERAL unnest(m.brands) AS b(brand) "
        f"WHERE {where} GROUP BY 1"
    )
    return sql, args
