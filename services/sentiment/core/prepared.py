"""A scored mention reduced to what the store, the scored topic and the metrics need.

`prepare()` runs where the mention was enriched (possibly another process), so the worker's
event loop only moves plain tuples and bytes: the Kafka payload is already encoded, the
`mentions` row is already in COPY order, and the rollup facts are plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from services.sentiment.core.author_keys import author_keys
from services.sentiment.core.entities import extract_entities
from services.sentiment.core.keywords import extract_hashtags
from services.sentiment.core.places import with_places
from services.sentiment.core.stories import StoryMention, extract_urls
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
    "version", "markets", "story_id",
)  # fmt: skip


class PreparedMention(NamedTuple):
    """One enriched mention, ready to store, publish and count."""

    platform: str
    external_id: str
    kind: str
    key: bytes  # Kafka partition key
    payload: bytes  # the ScoredMention as published on the scored topic
    copy_line: bytes  # the `mentions` row in MENTION_COLUMNS order, in COPY text format
    update_values: tuple[Any, ...]  # UPDATED_COLUMNS values (`updated` events only, else ())
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
    ingested_epoch: float  # when ingest accepted the mention, seconds since the epoch
    # The minute rollup rows this mention counts in: (brand, minute, topic, platform,
    # language) for each brand with topic '' (all topics) and then each of its topics.
    rollup_keys: tuple[tuple[str, datetime, str, str, str], ...]
    author_keys: tuple[int, ...]  # `author_key` of this mention's author in each of them
    minute_epoch: int  # `minute` in seconds since the epoch
    # What story clustering reads (None without a sentence vector), and what the stories
    # table summarises: the mention's keywords and the head of its text.
    story: StoryMention | None = None
    keywords: tuple[str, ...] = ()
    excerpt: str = ""
    story_id: str | None = None  # set by the worker (`with_story`)
    merged: tuple[str, ...] = ()  # stories that converged into `story_id` with this mention
    background: bool = False  # `story_id` is the brand's background story
    # `X-Request-ID` of the push that brought the mention (its `request_id` Kafka header),
    # set by the worker and forwarded on the scored topic.
    request_id: str | None = None

    @property
    def identity(self) -> tuple[str, str]:
        """The (platform, external id) pair that identifies the mention."""
        return (self.platform, self.external_id)


def minute_of(ts: datetime) -> datetime:
    """The start of the minute containing `ts`."""
    return ts.replace(second=0, microsecond=0)


# Array columns travel as PostgreSQL array literals (text), cast back in the INSERT: the
# driver would otherwise inspect every element of every list in the worker's event loop.
ARRAY_COLUMNS = frozenset({"brands", "hashtags", "topics", "keywords", "markets"})
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


# Columns an `updated` event rewrites (an edit or new engagement counts).
UPDATED_COLUMNS: tuple[str, ...] = (
    "text", "likes", "shares", "replies", "views", "sentiment_label", "sentiment_score",
    "sentiment_confidence", "scorer", "emotion", "emotions", "topics", "keywords",
)  # fmt: skip
_UPDATED_INDEX = tuple(MENTION_COLUMNS.index(c) for c in UPDATED_COLUMNS)
# COPY text format: backslash, tab, newline and carriage return are escaped; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_field(value: Any) -> str:
    """One value in PostgreSQL's COPY text format (text, bool, int, float, datetime, None)."""
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    convert = _COPY_FORMATS.get(type(value))
    if convert is None:
        raise TypeError(f"no COPY text form for {type(value).__name__}")
    return convert(value)


_COPY_FORMATS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "\\N",
    bool: lambda v: "t" if v else "f",
    int: int.__repr__,
    float: float.__repr__,  # the shortest text that reads back as the same double
    datetime: datetime.isoformat,
}


def copy_line(record: Sequence[Any]) -> bytes:
    """`record` as one line of COPY text format."""
    return _text_line([v if v is None or type(v) is str else _as_text(v) for v in record])


def _as_text(value: Any) -> str:
    """A non-NULL value's text before escaping (only text can hold a character to escape)."""
    if isinstance(value, str):
        return str(value)
    convert = _COPY_FORMATS.get(type(value))
    if convert is None:
        raise TypeError(f"no COPY text form for {type(value).__name__}")
    return convert(value)


def _text_line(texts: Sequence[str | None]) -> bytes:
    """One COPY line of values already in text form (None for NULL), escaped where needed."""
    line = "\t".join(["\\N" if t is None else t for t in texts])
    # Values rarely hold a character to escape: look for one in the whole line at once
    # (each NULL brings one backslash).
    if (
        line.count("\\") != texts.count(None)
        or "\n" in line
        or "\r" in line
        or line.count("\t") != len(texts) - 1
    ):
        line = "\t".join(map(copy_field, texts))
    return (line + "\n").encode()


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
        array_literal(m.markets), scored.story_id,
    )  # fmt: skip


def _mention_line(scored: ScoredMention) -> bytes:
    """`copy_line(mention_record(scored))`, with each value put in text form directly."""
    m = scored.mention
    s = scored.sentiment
    e = m.engagement
    reach = m.author_reach
    return _text_line((
        m.platform, m.external_id, m.brands[0], array_literal(m.brands), m.url, m.author_id,
        m.author_handle, None if reach is None else int.__repr__(reach), m.text,
        "t" if m.truncated else "f", m.language_hint,
        m.created_at.isoformat(), m.ingested_at.isoformat(), scored.scored_at.isoformat(),
        int.__repr__(e.likes), int.__repr__(e.shares), int.__repr__(e.replies),
        int.__repr__(e.views), array_literal(m.hashtags), m.in_reply_to, m.quote_of,
        scored.language, float.__repr__(scored.language_confidence),
        *((s.label, float.__repr__(s.score), float.__repr__(s.confidence), s.scorer) if s
          else (None, None, None, None)),
        scored.emotion, serde.dumps(scored.emotions).decode(), array_literal(scored.topics),
        array_literal(scored.keywords), serde.dumps(m.source).decode(), "1",
        array_literal(m.markets), scored.story_id,
    ))  # fmt: skip


_EXCERPT_CHARS = 280
_NO_STORY_LINE = b"\t\\N\n"  # the row's last field, `story_id`, when it is NULL
_NO_STORY_JSON = b',"story_id":null,"story_background":false}'  # the payload's last fields


def with_story(
    prepared: PreparedMention,
    story_id: str,
    merged: tuple[str, ...] = (),
    background: bool = False,
) -> PreparedMention:
    """`prepared` with its `story_id` set in the row and its story in the payload.

    `story_id` is the row's last column and, with `story_background`, the payload's last
    fields, so both are patched at their end instead of encoding the mention again in the
    worker's process.
    """
    line, payload = prepared.copy_line, prepared.payload
    if not (line.endswith(_NO_STORY_LINE) and payload.endswith(_NO_STORY_JSON)):
        raise ValueError("mention already has a story")
    story = story_id.encode()
    flag = b"true" if background else b"false"
    return prepared._replace(
        copy_line=line[: -len(_NO_STORY_LINE)] + b"\t" + story + b"\n",
        payload=payload[: -len(_NO_STORY_JSON)]
        + b',"story_id":"'
        + story
        + b'","story_background":'
        + flag
        + b"}",
        story_id=story_id,
        merged=merged,
        background=background,
    )


def story_input(scored: ScoredMention, vector: np.ndarray) -> StoryMention:
    """What the story clusterer reads of `scored` (refs are keyed like `key`)."""
    m = scored.mention
    refs = tuple(f"{m.platform}:{ref}" for ref in (m.in_reply_to, m.quote_of) if ref)
    tags = m.hashtags or extract_hashtags(m.text)
    return StoryMention(
        key=f"{m.platform}:{m.external_id}",
        brand=m.brands[0],
        at=m.created_at.timestamp(),
        vector=vector,
        hashtags=tuple(t.lower().lstrip("#") for t in tags),
        urls=tuple(extract_urls(m.text)),
        refs=refs,
        entities=with_places(extract_entities(m.text)),
    )


def prepare(scored: ScoredMention, vector: np.ndarray | None = None) -> PreparedMention:
    """Reduce `scored` to a `PreparedMention` (encodes the payload and the row once).

    With its sentence `vector`, the mention also carries what story clustering reads.
    """
    m = scored.mention
    s = scored.sentiment
    label = s.label if s else "unscored"
    minute = minute_of(m.created_at)
    minute_epoch = int(minute.timestamp())
    platform = m.platform
    language = scored.language
    brand_topics = [(brand, topic) for brand in m.brands for topic in ("", *scored.topics)]
    emotions = scored.emotions
    engagement = m.engagement.total
    reach = m.author_reach or 0
    return PreparedMention(
        platform,
        m.external_id,
        m.kind,
        m.key,
        serde.dumps(scored),
        _mention_line(scored),
        tuple(mention_record(scored)[i] for i in _UPDATED_INDEX) if m.kind == "updated" else (),
        tuple(m.brands),
        minute,
        tuple(scored.topics),
        language,
        label,
        (
            1.0,
            *(1.0 if label == column else 0.0 for column in _LABEL_COLUMNS),
            s.score if s else 0.0,
            *[emotions.get(e, 0.0) for e in ROLLUP_EMOTIONS],
            float(engagement),
            float(reach),
        ),
        scored.emotion,
        engagement,
        reach,
        m.author_id,
        m.ingested_at.timestamp(),
        tuple((brand, minute, topic, platform, language) for brand, topic in brand_topics),
        author_keys(brand_topics, minute_epoch, platform, language, m.author_id),
        minute_epoch,
        story_input(scored, vector) if vector is not None and m.kind != "updated" else None,
        tuple(scored.keywords),
        m.text[:_EXCERPT_CHARS],
    )
