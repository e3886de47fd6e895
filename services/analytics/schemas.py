"""Response models and filters of the analytics API (trends, voice, terms, mentions)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Resolution = Literal["minute", "hour", "day"]
SentimentFilter = Literal["negative", "neutral", "positive", "unscored"]


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
