"""Build realistic scored mentions and store them with `store_scored` (mentions + rollups)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.core.normalize import pseudonymize
from services.sentiment.store import store_scored
from shared.db.engine import transaction
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore
from shared.settings.ingest import DEV_PSEUDONYM_SECRET

SCORES = {"negative": -0.7, "neutral": 0.0, "positive": 0.6}


def scored(
    *,
    brand: str,
    external_id: str,
    created_at: datetime,
    label: str | None = "negative",
    author: str = "user1",
    platform: str = "x",
    text: str = "the kettle broke",
    language: str = "en",
    keywords: list[str] | None = None,
    hashtags: list[str] | None = None,
    topics: list[str] | None = None,
    reach: int | None = 100,
    brands: list[str] | None = None,
    emotions: dict[str, float] | None = None,
    likes: int = 1,
    markets: list[str] | None = None,
) -> ScoredMention:
    """A scored mention with a pseudonymous author, as the sentiment service would store it."""
    mention = Mention(
        platform=platform,
        external_id=f"{external_id}@{brand}",  # unique across tests
        author_id=pseudonymize(platform, author, DEV_PSEUDONYM_SECRET.encode()),
        author_handle=f"@{author}",
        author_reach=reach,
        text=text,
        created_at=created_at,
        engagement=Engagement(likes=likes),
        hashtags=hashtags or [],
        brands=brands or [brand],
        markets=markets or [],
    )
    sentiment = (
        SentimentScore(label=label, score=SCORES[label], confidence=0.9, scorer="test")  # type: ignore[arg-type]
        if label
        else None
    )
    return ScoredMention(
        mention=mention,
        language=language,
        language_confidence=0.99,
        sentiment=sentiment,
        emotions=emotions or ({"anger": 0.8} if label == "negative" else {"joy": 0.5}),
        emotion="anger" if label == "negative" else "joy",
        topics=topics or [],
        keywords=keywords or [],
    )


def ext(item: dict[str, Any]) -> str:
    """The test's short external id of a returned mention."""
    return str(item["external_id"]).split("@", 1)[0]


async def store(engine: AsyncEngine, items: list[ScoredMention]) -> Any:
    """Store mentions and grow their rollups in one transaction."""
    async with transaction(engine) as session:
        return await store_scored(session, items)
