"""Idempotent storage of scored mentions and their per-minute rollups in PostgreSQL.

A replayed message is a no-op: the insert skips existing (platform, external_id) pairs and
rollups only grow for rows that were inserted in this transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.models import MentionRow, RollupRow
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


async def _grow_rollups(session: AsyncSession, new: Sequence[ScoredMention]) -> None:
    sums = rollup_increments(new)
    if not sums:
        return
    rows = []
    for (brand, minute, topic, platform, language), acc in sums.items():
        rows.append(
            {
                "brand": brand,
                "minute": minute,
                "topic": topic,
                "platform": platform,
                "language": language,
                "volume": int(acc["volume"]),
                "negative": int(acc["negative"]),
                "neutral": int(acc["neutral"]),
                "positive": int(acc["positive"]),
                "unscored": int(acc["unscored"]),
                "sentiment_sum": acc["sentiment_sum"],
                **{e: acc[e] for e in _EMOTION_COLUMNS},
                "engagement": int(acc["engagement"]),
                "reach": int(acc["reach"]),
                "distinct_authors": 0,
            }
        )
    stmt = insert(RollupRow).values(rows)
    additive = [
        "volume",
        "negative",
        "neutral",
        "positive",
        "unscored",
        "sentiment_sum",
        *_EMOTION_COLUMNS,
        "engagement",
        "reach",
    ]
    stmt = stmt.on_conflict_do_update(
        index_elements=["brand", "minute", "topic", "platform", "language"],
        set_={c: getattr(RollupRow, c) + getattr(stmt.excluded, c) for c in additive},
    )
    await session.execute(stmt)
    keys = sorted({(brand, minute) for brand, minute, *_ in sums})
    await session.execute(
        text(
            """
            UPDATE mention_rollups r SET distinct_authors = (
                SELECT count(DISTINCT m.author_id) FROM mentions m
                WHERE m.created_at >= r.minute AND m.created_at < r.minute + interval '1 minute'
                  AND m.brands @> ARRAY[r.brand]::varchar[]
                  AND m.platform = r.platform AND m.language = r.language
                  AND (r.topic = '' OR m.topics @> ARRAY[r.topic]::varchar[]))
            WHERE (r.brand, r.minute) IN (
                SELECT * FROM unnest(CAST(:brands AS varchar[]), CAST(:minutes AS timestamptz[])))
            """
        ).bindparams(brands=[k[0] for k in keys], minutes=[k[1] for k in keys])
    )
