"""A scored mention reduced to what the store, the scored topic and the metrics need.

`prepare()` runs where the mention was enriched (possibly another process), so the worker's
event loop only moves plain tuples and bytes: the Kafka payload is already encoded, the
`mentions` row is already in COPY order, and the rollup facts are plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from services.sentiment.author_keys import author_key
from shared import serde
from shared.schemas import EMOTIONS, ScoredMention

# Emotions summed in the rollups (neutral is what is left over).
ROLLUP_EMOTIONS: tuple[str, ...] = tuple(e for e in EMOTIONS if e != "neutral")
# What each mention adds to its rollup rows, in `PreparedMention.measures` order.
ADDITIVE: tuple[str, ...] = (
    "volume", "negative", "neutral", "positive", "unscored", "sentiment_sum", *ROLLUP_EMOTIONS,
    "engagement", "reach",
)  # fmt: skip
INTEGER_MEASURES = frozenset(
    {"volume", "negative", "neutral", "positive", "unscored", "engagement", "reach"}
)
_LABEL_COLUMNS = ("negative", "neutral", "positive", "unscored")

# Columns written for a new mention, in COPY order (`id` comes from the table's sequence).
MENTION_COLUMNS: tuple[str, ...] = (
    "platform", "external_id", "brand", "brands", "url", "author_id", "author_handle",
    "author_reach", "text", "truncated", "language_hint", "created_at", "ingested_at",
    "scored_at", "likes", "shares", "replies", "views", "hashtags", "in_reply_to", "quote_of",
    "language", "language_confidence", "sentiment_label", "sentiment_score",
    "sentiment_confidence", "scorer", "emotion", "emotions", "topics", "keywords", "source",
    "version",
)  # fmt: skip


class PreparedMention(NamedTuple):
    """One enriched mention, ready to store, publish and count."""

    platform: str
    external_id: str
    kind: str
    key: bytes  # Kafka partition key
    payload: bytes  # the ScoredMention as published on the scored topic
    record: tuple[Any, ...]  # the `mentions` row in MENTION_COLUMNS order, JSON as text
    brands: tuple[str, ...]
    minute: datetime
    topics: tuple[str, ...]
    language: str
    label: str  # negative / neutral / positive / unscored
    measures: tuple[float, ...]  # what this mention adds to a rollup row, ADDITIVE order
    emotion: str | None
    engagement: int
    reach: int
    author_id: str
    ingested_at: datetime
    # `author_key` of each rollup row this mention counts in: every brand with topic ''
    # (all topics) and then each of its topics.
    author_keys: tuple[int, ...]

    @property
    def identity(self) -> tuple[str, str]:
        """The (platform, external id) pair that identifies the mention."""
        return (self.platform, self.external_id)


def minute_of(ts: datetime) -> datetime:
    """The start of the minute containing `ts`."""
    return ts.replace(second=0, microsecond=0)


# Array columns travel as PostgreSQL array literals (text), cast back in the INSERT: the
# driver would otherwise inspect every element of every list in the worker's event loop.
ARRAY_COLUMNS = frozenset({"brands", "hashtags", "topics", "keywords"})
_ARRAY_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def array_literal(values: Sequence[str]) -> str:
    """`values` as a PostgreSQL text array literal: `{"a","b \\"c\\""}`."""
    if not values:
        return "{}"
    joined = '","'.join(values)
    # Only the separators hold quotes and nothing holds a backslash: nothing to escape.
    if "\\" not in joined and joined.count('"') == 2 * (len(values) - 1):
        return '{"' + joined + '"}'
    return "{" + ",".join(map(_quoted, values)) + "}"


def _quoted(value: str) -> str:
    if '"' in value or "\\" in value:
        value = value.translate(_ARRAY_ESCAPES)
    return f'"{value}"'


def mention_record(scored: ScoredMention) -> tuple[Any, ...]:
    """The `mentions` row for `scored` in `MENTION_COLUMNS` order (JSON and arrays as text)."""
    m = scored.mention
    s = scored.sentiment
    e = m.engagement
    return (
        m.platform, m.external_id, m.brands[0], array_literal(m.brands), m.url, m.author_id,
        m.author_handle, m.author_reach, m.text, m.truncated, m.language_hint, m.created_at,
        m.ingested_at, scored.scored_at, e.likes, e.shares, e.replies, e.views,
        array_literal(m.hashtags), m.in_reply_to, m.quote_of, scored.language,
        scored.language_confidence,
        s.label if s else None, s.score if s else None, s.confidence if s else None,
        s.scorer if s else None,
        scored.emotion, serde.dumps(scored.emotions).decode(), array_literal(scored.topics),
        array_literal(scored.keywords), serde.dumps(m.source).decode(), 1,
    )  # fmt: skip


def prepare(scored: ScoredMention) -> PreparedMention:
    """Reduce `scored` to a `PreparedMention` (encodes the payload and the row once)."""
    m = scored.mention
    s = scored.sentiment
    label = s.label if s else "unscored"
    minute = minute_of(m.created_at)
    return PreparedMention(
        platform=m.platform,
        external_id=m.external_id,
        kind=m.kind,
        key=m.key,
        payload=serde.dumps(scored),
        record=mention_record(scored),
        brands=tuple(m.brands),
        minute=minute,
        topics=tuple(scored.topics),
        language=scored.language,
        label=label,
        measures=(
            1.0,
            *(1.0 if label == column else 0.0 for column in _LABEL_COLUMNS),
            s.score if s else 0.0,
            *(scored.emotions.get(e, 0.0) for e in ROLLUP_EMOTIONS),
            float(m.engagement.total),
            float(m.author_reach or 0),
        ),
        emotion=scored.emotion,
        engagement=m.engagement.total,
        reach=m.author_reach or 0,
        author_id=m.author_id,
        ingested_at=m.ingested_at,
        author_keys=tuple(
            author_key(brand, minute, topic, m.platform, scored.language, m.author_id)
            for brand in m.brands
            for topic in ("", *scored.topics)
        ),
    )
