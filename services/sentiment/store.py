"""Idempotent storage of scored mentions and their per-minute rollups in PostgreSQL.

A replayed message is a no-op: the insert skips existing (platform, external_id) pairs and
rollups only grow for rows that were inserted in this transaction.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.models import DailyRollupRow, HourlyRollupRow, MentionRow, RollupRow
from shared.schemas import EMOTIONS, ScoredMention

_EMOTION_COLUMNS = [e for e in EMOTIONS if e != "neutral"]


@dataclass(frozen=True, slots=True)
class StoreResult:
    """How many mentions were new, updated, or already stored."""

    inserted: int
    updated: int
    duplicates: int


def mention_row(scored: ScoredMention) -> dict[str, Any]:
    """Column values of the `mentions` row for `scored`."""
    m = scored.mention
    s = scored.sentiment
    return {
        "platform": m.platform,
        "external_id": m.external_id,
        "brand": m.brands[0],
        "brands": m.brands,
        "url": m.url,
        "author_id": m.author_id,
        "author_handle": m.author_handle,
        "author_reach": m.author_reach,
        "text": m.text,
        "truncated": m.truncated,
        "language_hint": m.language_hint,
        "created_at": m.created_at,
        "ingested_at": m.ingested_at,
        "scored_at": scored.scored_at,
        "likes": m.engagement.likes,
        "shares": m.engagement.shares,
        "replies": m.engagement.replies,
        "views": m.engagement.views,
        "hashtags": m.hashtags,
        "in_reply_to": m.in_reply_to,
        "quote_of": m.quote_of,
        "language": scored.language,
        "language_confidence": scored.language_confidence,
        "sentiment_label": s.label if s else None,
        "sentiment_score": s.score if s else None,
        "sentiment_confidence": s.confidence if s else None,
        "scorer": s.scorer if s else None,
        "emotion": scored.emotion,
        "emotions": scored.emotions,
        "topics": scored.topics,
        "keywords": scored.keywords,
        "source": m.source,
        "version": 1,
    }


def minute_of(ts: datetime) -> datetime:
    """The start of the minute containing `ts`."""
    return ts.replace(second=0, microsecond=0)


RollupKey = tuple[str, datetime, str, str, str]


def rollup_increments(mentions: Sequence[ScoredMention]) -> dict[RollupKey, dict[str, float]]:
    """Per (brand, minute, topic, platform, language) sums for new mentions; topic '' = all."""
    sums: dict[RollupKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for scored in mentions:
        m = scored.mention
        minute = minute_of(m.created_at)
        label = scored.sentiment.label if scored.sentiment else "unscored"
        for brand in m.brands:
            for topic in ("", *scored.topics):
                acc = sums[(brand, minute, topic, m.platform, scored.language)]
                acc["volume"] += 1
                acc[label] += 1
                acc["sentiment_sum"] += scored.sentiment.score if scored.sentiment else 0.0
                for emotion in _EMOTION_COLUMNS:
                    acc[emotion] += scored.emotions.get(emotion, 0.0)
                acc["engagement"] += m.engagement.total
                acc["reach"] += m.author_reach or 0
    return sums


async def store_scored(session: AsyncSession, batch: Sequence[ScoredMention]) -> StoreResult:
    """Upsert `batch` and grow the rollups for the new rows, inside the caller's transaction."""
    latest: dict[tuple[str, str], ScoredMention] = {}
    for scored in batch:
        latest[scored.mention.identity] = scored  # a later event of the same mention wins
    if not latest:
        return StoreResult(0, 0, 0)
    rows = [mention_row(s) for s in latest.values()]
    # executemany form: the compiled statement is cached and rows are sent in large batches.
    stmt = (
        insert(MentionRow)
        .on_conflict_do_nothing(constraint="uq_mentions_platform_external_id")
        .returning(MentionRow.platform, MentionRow.external_id, sort_by_parameter_order=True)
    )
    result = await session.execute(stmt, rows)
    inserted_ids = {(p, e) for p, e in result.all()}
    updated = 0
    for identity, scored in latest.items():
        if identity in inserted_ids or scored.mention.kind != "updated":
            continue
        updated += await _apply_update(session, scored)
    new = [latest[i] for i in inserted_ids]
    await _grow_rollups(session, new)
    duplicates = len(batch) - len(inserted_ids) - updated
    return StoreResult(len(inserted_ids), updated, duplicates)


async def _apply_update(session: AsyncSession, scored: ScoredMention) -> int:
    m = scored.mention
    s = scored.sentiment
    stmt = (
        update(MentionRow)
        .where(MentionRow.platform == m.platform, MentionRow.external_id == m.external_id)
        .values(
            text=m.text,
            likes=m.engagement.likes,
            shares=m.engagement.shares,
            replies=m.engagement.replies,
            views=m.engagement.views,
            sentiment_label=s.label if s else None,
            sentiment_score=s.score if s else None,
            sentiment_confidence=s.confidence if s else None,
            emotion=scored.emotion,
            emotions=scored.emotions,
            topics=scored.topics,
            keywords=scored.keywords,
            version=MentionRow.version + 1,
        )
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


ADDITIVE: tuple[str, ...] = (
    "volume",
    "negative",
    "neutral",
    "positive",
    "unscored",
    "sentiment_sum",
    *_EMOTION_COLUMNS,
    "engagement",
    "reach",
)
_INTEGER = {"volume", "negative", "neutral", "positive", "unscored", "engagement", "reach"}
# Hourly and daily rollups also hold one row per (brand, bucket, topic) summed over every
# platform and language, so unfiltered trends read a single row per bucket.
ALL_DIMENSIONS = "*"
_COARSE: tuple[tuple[type[HourlyRollupRow] | type[DailyRollupRow], str], ...] = (
    (HourlyRollupRow, "hour"),
    (DailyRollupRow, "day"),
)


def truncate(ts: datetime, unit: str) -> datetime:
    """Start of the UTC hour or day containing `ts`."""
    ts = ts.replace(minute=0, second=0, microsecond=0)
    return ts.replace(hour=0) if unit == "day" else ts


def _rows(sums: dict[RollupKey, dict[str, float]], time_column: str) -> list[dict[str, Any]]:
    rows = []
    for (brand, at, topic, platform, language), acc in sums.items():
        row: dict[str, Any] = {
            "brand": brand,
            time_column: at,
            "topic": topic,
            "platform": platform,
            "language": language,
        }
        for column in ADDITIVE:
            row[column] = int(acc[column]) if column in _INTEGER else acc[column]
        rows.append(row)
    return rows


@functools.cache
def _additive_upsert(model: Any, time_column: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE adding the measures; built once, run as executemany."""
    stmt = insert(model)
    return stmt.on_conflict_do_update(
        index_elements=["brand", time_column, "topic", "platform", "language"],
        set_={c: getattr(model, c) + getattr(stmt.excluded, c) for c in ADDITIVE},
    )


async def _upsert_additive(
    session: AsyncSession, model: Any, time_column: str, rows: list[dict[str, Any]]
) -> None:
    if model is RollupRow:
        for row in rows:
            row.setdefault("distinct_authors", 0)
    # Sorted keys: concurrent workers lock rollup rows in the same order (no deadlocks).
    rows.sort(key=lambda r: (r["brand"], r[time_column], r["topic"], r["platform"], r["language"]))
    await session.execute(_additive_upsert(model, time_column), rows)


async def _grow_rollups(session: AsyncSession, new: Sequence[ScoredMention]) -> None:
    sums = rollup_increments(new)
    if not sums:
        return
    await _upsert_additive(session, RollupRow, "minute", _rows(sums, "minute"))
    for model, unit in _COARSE:
        coarse: dict[RollupKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (brand, minute, topic, platform, language), acc in sums.items():
            bucket = truncate(minute, unit)
            for key in (
                (brand, bucket, topic, platform, language),
                (brand, bucket, topic, ALL_DIMENSIONS, ALL_DIMENSIONS),
            ):
                target = coarse[key]
                for column in ADDITIVE:
                    target[column] += acc[column]
        await _upsert_additive(session, model, unit, _rows(coarse, unit))
    keys = sorted({(brand, minute) for brand, minute, *_ in sums})
    await session.execute(
        _DISTINCT_AUTHORS.bindparams(
            brands=[k[0] for k in keys],
            minutes=[k[1] for k in keys],
            first=keys[0][1] if len(keys) == 1 else min(k[1] for k in keys),
            last=max(k[1] for k in keys),
        )
    )


# Distinct authors of the touched (brand, minute) rollups, recounted in one pass over the
# mentions of those minutes (one scan of the created_at index, not one per rollup row).
_DISTINCT_AUTHORS = text(
    """
    WITH keys AS (
        SELECT * FROM unnest(CAST(:brands AS varchar[]), CAST(:minutes AS timestamptz[]))
            AS k(brand, minute)
    ), counted AS (
        SELECT b.brand, date_trunc('minute', m.created_at, 'UTC') AS minute, t.topic,
               m.platform, m.language, count(DISTINCT m.author_id) AS authors
        FROM mentions m
        CROSS JOIN LATERAL unnest(m.brands) AS b(brand)
        CROSS JOIN LATERAL unnest(ARRAY['']::varchar[] || m.topics) AS t(topic)
        WHERE m.created_at >= :first AND m.created_at < :last + interval '1 minute'
          AND (b.brand, date_trunc('minute', m.created_at, 'UTC')) IN (SELECT * FROM keys)
        GROUP BY 1, 2, 3, 4, 5
    )
    UPDATE mention_rollups r SET distinct_authors = c.authors
    FROM counted c
    WHERE r.brand = c.brand AND r.minute = c.minute AND r.topic = c.topic
      AND r.platform = c.platform AND r.language = c.language
      AND r.distinct_authors IS DISTINCT FROM c.authors
    """
)


async def rebuild_coarse_rollups(
    session: AsyncSession, keys: Sequence[tuple[str, datetime]]
) -> None:
    """Recompute the hourly and daily rollups covering (brand, minute) keys from the minutes."""
    measures = ", ".join(ADDITIVE)
    sums = ", ".join(f"sum({c})" for c in ADDITIVE)
    for model, unit in _COARSE:
        buckets = sorted({(brand, truncate(minute, unit)) for brand, minute in keys})
        if not buckets:
            continue
        table = model.__tablename__
        params = {"brands": [b for b, _ in buckets], "buckets": [t for _, t in buckets]}
        selected = (
            "SELECT * FROM unnest(CAST(:brands AS varchar[]), CAST(:buckets AS timestamptz[]))"
        )
        # Table and column names come from the constants above; values are bound parameters.
        delete_sql = f"DELETE FROM {table} WHERE (brand, {unit}) IN ({selected})"  # noqa: S608
        await session.execute(text(delete_sql).bindparams(**params))
        for dims, group in (("r.platform, r.language", "4, 5"), ("'*', '*'", "")):
            group_by = f"1, 2, 3, {group}" if group else "1, 2, 3"
            await session.execute(
                text(
                    f"INSERT INTO {table} (brand, {unit}, topic, platform, language, {measures}) "  # noqa: S608
                    f"SELECT r.brand, date_trunc('{unit}', r.minute, 'UTC'), r.topic, {dims}, "
                    f"{sums} FROM mention_rollups r "
                    f"WHERE (r.brand, date_trunc('{unit}', r.minute, 'UTC')) IN ({selected}) "
                    f"GROUP BY {group_by}"
                ).bindparams(**params)
            )
