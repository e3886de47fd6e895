"""Versioned event schemas carried on Kafka between the services.

`Mention` is what ingest produces to `mentions.raw`; `ScoredMention` is what the sentiment
service produces to `mentions.scored`. Both carry `schema_version`; a consumer refuses
versions it does not know (they go to the dead-letter topic with the reason).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

MENTION_SCHEMA_VERSION: Literal[1] = 1
SCORED_SCHEMA_VERSION: Literal[1] = 1

Platform = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,31}$", strip_whitespace=True)
]
BrandName = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Market = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
SentimentLabel = Literal["negative", "neutral", "positive"]
EMOTIONS: tuple[str, ...] = ("anger", "fear", "sadness", "joy", "surprise", "disgust", "neutral")
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")


def utc(value: datetime) -> datetime:
    """Return `value` converted to UTC (naive datetimes are taken to be UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# No platform counts beyond a trillion; the bound keeps per-minute sums inside PostgreSQL's
# bigint, so an absurd count is refused with a reason instead of failing a whole batch.
MAX_COUNT = 10**12


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Engagement(_Event):
    """Interaction counts at the time the mention was seen."""

    likes: int = Field(default=0, ge=0, le=MAX_COUNT)
    shares: int = Field(default=0, ge=0, le=MAX_COUNT, description="shares, reposts, boosts")
    replies: int = Field(default=0, ge=0, le=MAX_COUNT)
    views: int = Field(default=0, ge=0, le=MAX_COUNT)

    @property
    def total(self) -> int:
        """Interactions that spread a post (views excluded)."""
        return self.likes + self.shares + self.replies


class Mention(_Event):
    """One post, comment or article that mentions a watched brand."""

    schema_version: Literal[1] = MENTION_SCHEMA_VERSION
    kind: Literal["created", "updated"] = Field(
        default="created", description="`updated` carries an edit or new engagement counts"
    )
    platform: Platform
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    url: str | None = Field(default=None, max_length=2048)
    author_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="pseudonymous author id: keyed HMAC of platform and the platform's author id"
    )
    author_handle: str | None = Field(
        default=None, max_length=256, description="raw handle, only when retention is allowed"
    )
    author_reach: int | None = Field(
        default=None, ge=0, le=MAX_COUNT, description="followers, when known"
    )
    text: str = Field(max_length=40_000)
    truncated: bool = False
    language_hint: str | None = Field(default=None, max_length=16)
    created_at: AwareDatetime
    ingested_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    engagement: Engagement = Field(default_factory=Engagement)
    hashtags: list[str] = Field(default_factory=list, max_length=100)
    in_reply_to: str | None = Field(default=None, max_length=256)
    quote_of: str | None = Field(default=None, max_length=256)
    brands: list[BrandName] = Field(min_length=1, max_length=32)
    competitors: list[BrandName] = Field(
        default_factory=list,
        max_length=32,
        description="those of `brands` that are tracked competitors of a watched brand: "
        "counted (share of voice), never alerted on unless in `watched_competitors`",
    )
    watched_competitors: list[BrandName] = Field(
        default_factory=list,
        max_length=32,
        description="those of `competitors` whose crises a watchlist listing them watches "
        "(`watch_competitors`): they open low-severity (SEV4) competitor incidents",
    )
    markets: list[Market] = Field(
        default_factory=list,
        max_length=32,
        description="countries the mention is about: set by the source, else mapped from its "
        "language by the watchlists of its brands",
    )
    source: dict[str, Any] = Field(
        default_factory=dict, description="connector metadata (feed, query, subreddit...)"
    )

    @field_validator("created_at", "ingested_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return utc(value)

    @property
    def watched_brands(self) -> list[str]:
        """The brands the mention is about, tracked competitors left out."""
        if not self.competitors:
            return list(self.brands)
        return [b for b in self.brands if b not in self.competitors]

    @property
    def key(self) -> bytes:
        """Kafka partition key: the first matched brand, so a brand's mentions stay ordered."""
        return self.brands[0].encode()

    @property
    def identity(self) -> tuple[str, str]:
        """The (platform, external id) pair that identifies a mention everywhere."""
        return (self.platform, self.external_id)


class SentimentScore(_Event):
    """Polarity of one text as judged by one scorer."""

    label: SentimentLabel
    score: float = Field(ge=-1.0, le=1.0, description="-1 most negative, +1 most positive")
    confidence: float = Field(ge=0.0, le=1.0)
    scorer: str


class ScoredMention(_Event):
    """A mention with its enrichment, as stored and as published on `mentions.scored`."""

    schema_version: Literal[1] = SCORED_SCHEMA_VERSION
    mention: Mention
    language: str = Field(description="ISO 639-1 code, or `und` when undetermined")
    language_confidence: float = Field(ge=0.0, le=1.0)
    sentiment: SentimentScore | None = Field(
        description="None when no method covers the language: the mention is unscored"
    )
    emotions: dict[str, float] = Field(default_factory=dict)
    emotion: str | None = None
    topics: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    scored_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    # Last fields on purpose: the worker fills them in after enrichment (see `with_story`).
    story_id: str | None = Field(
        default=None, max_length=64, description="the story of its brand the mention is about"
    )
    story_background: bool = Field(
        default=False,
        description="the story is the brand's background (its ordinary talk: chatter, adverts,"
        " product questions), never an incident's story",
    )

    @property
    def is_negative(self) -> bool:
        """True when the mention was scored and judged negative."""
        return self.sentiment is not None and self.sentiment.label == "negative"


class DeadLetter(_Event):
    """Envelope written to `mentions.dlq`: why a record was refused, and its original bytes."""

    reason: str
    stage: str = Field(description="which service refused it: ingest, sentiment, alerting")
    source: str = Field(description="topic or connector the record came from")
    original: str = Field(description="the original bytes, decoded as UTF-8 with replacement")
    original_b64: str | None = Field(
        default=None, description="base64 of the original bytes when they were not valid UTF-8"
    )
    at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
