"""HTTP read API of the analytics: trends, share of voice, rising terms, mention search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime, StringConstraints

from services.analytics import mentions, terms, trends, voice
from services.analytics.export import MentionExport
from services.analytics.schemas import (
    MentionFilter,
    MentionPage,
    Resolution,
    RisingTermsRead,
    SentimentFilter,
    ShareOfVoiceRead,
    TrendsRead,
)
from shared.http.deps import ApiSettingsDep, EngineDep, SessionDep, Viewer

router = APIRouter(prefix="/v1", tags=["trends"])

Brand = Annotated[str, Query(min_length=1, max_length=64, examples=["acme"])]
Brands = Annotated[
    list[str],
    Query(
        min_length=1,
        max_length=10,
        description="one or more brands (repeat to compare)",
        examples=[["acme", "globex"]],
    ),
]
Start = Annotated[
    AwareDatetime,
    Query(description="inclusive start, ISO 8601 with offset", examples=["2026-11-01T00:00:00Z"]),
]
End = Annotated[
    AwareDatetime,
    Query(description="exclusive end, ISO 8601 with offset", examples=["2026-11-08T00:00:00Z"]),
]
Topic = Annotated[str, Query(max_length=64, description="'' (default) means all topics")]
Platforms = Annotated[list[str] | None, Query(max_length=20, description="repeatable filter")]
Languages = Annotated[list[str] | None, Query(max_length=20, description="repeatable filter")]
Markets = Annotated[
    list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)]] | None,
    Query(
        max_length=20,
        description="market filter (ISO 3166-1 alpha-2 country, repeatable): the mentions "
        "whose markets include one of them (set by the source, else mapped from the "
        "language by the brand's watchlist); read from the stored mentions",
        examples=[["DE"]],
    ),
]

_TRENDS_EXAMPLE = {
    "start": "2026-11-24T00:00:00Z",
    "end": "2026-11-25T00:00:00Z",
    "resolution": "hour",
    "topic": "",
    "series": [
        {
            "brand": "acme",
            "total_volume": 42,
            "points": [
                {
                    "bucket": "2026-11-24T09:00:00Z",
                    "volume": 42,
                    "negative": 30,
                    "neutral": 8,
                    "positive": 4,
                    "unscored": 0,
                    "mean_score": -0.41,
                    "emotions": {
                        "anger": 0.35,
                        "fear": 0.1,
                        "sadness": 0.05,
                        "joy": 0.04,
                        "surprise": 0.02,
                        "disgust": 0.08,
                    },
                    "engagement": 310,
                    "reach": 120000,
                }
            ],
        }
    ],
}


@router.get(
    "/trends",
    summary="Sentiment and volume trends of one or more brands",
    description="Answers from the per-minute rollups: mean sentiment, label counts, volume, "
    "mean emotions, engagement and reach per bucket. Ranges: minute resolution up to 3 days, "
    "hour up to 400 days, day up to 10 years. Needs role viewer.",
    response_model=TrendsRead,
    responses={200: {"content": {"application/json": {"example": _TRENDS_EXAMPLE}}}},
)
async def get_trends(
    session: SessionDep,
    _: Viewer,
    brand: Brands,
    start: Start,
    end: End,
    resolution: Resolution = "hour",
    topic: Topic = "",
    platform: Platforms = None,
    language: Languages = None,
    market: Markets = None,
) -> Response:
    """Trend series per brand, already encoded: thousands of points skip a model each."""
    body = await trends.trends_json(
        session,
        brands=brand,
        start=start,
        end=end,
        resolution=resolution,
        topic=topic,
        platforms=platform or [],
        languages=language or [],
        markets=market or [],
    )
    return Response(body, media_type="application/json")


@router.get(
    "/share-of-voice",
    summary="Share of voice of a brand against its competitors",
    description="Competitors come from repeated `competitor` parameters, else from the brand's "
    "stored watchlist. Needs role viewer.",
)
async def get_share_of_voice(
    session: SessionDep,
    _: Viewer,
    brand: Brand,
    start: Start,
    end: End,
    competitor: Annotated[list[str] | None, Query(max_length=20)] = None,
    topic: Topic = "",
    platform: Platforms = None,
    language: Languages = None,
    market: Markets = None,
) -> ShareOfVoiceRead:
    """Volume shares of the brand and its competitors."""
    return await voice.share_of_voice(
        session,
        brand=brand,
        competitors=competitor or [],
        start=start,
        end=end,
        topic=topic,
        platforms=platform or [],
        languages=language or [],
        markets=market or [],
    )


@router.get(
    "/rising-terms",
    summary="Keywords and hashtags rising for a brand",
    description="Compares how often each term appears per mention in the recent window with "
    "the baseline window before it; ranked by an add-one smoothed lift. Needs role viewer.",
)
async def get_rising_terms(
    session: SessionDep,
    _: Viewer,
    brand: Brand,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    window_hours: Annotated[int, Query(ge=1, le=24 * 30)] = 24,
    baseline_hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24 * 7,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    min_count: Annotated[int, Query(ge=1, le=1000)] = 2,
) -> RisingTermsRead:
    """Rising terms of the brand."""
    return await terms.rising_terms(
        session,
        brand=brand,
        end=end or datetime.now(UTC),
        window=timedelta(hours=window_hours),
        baseline=timedelta(hours=baseline_hours),
        limit=limit,
        min_count=min_count,
    )


@router.get(
    "/mentions",
    operation_id="search_mentions",
    response_model=MentionPage,
    summary="Search stored mentions",
    description="Newest first with an opaque keyset cursor. `q` matches text (case-insensitive, "
    "wildcards taken literally) or an exact keyword. CSV with `format=csv` or "
    "`Accept: text/csv` is the export: every matching row (after `cursor` when given; `limit` "
    "sizes JSON pages only), streamed; cells starting with = + - @ are prefixed with ' so "
    "spreadsheets do not run them. Needs role viewer.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_mentions(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    settings: ApiSettingsDep,
    _: Viewer,
    brand: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    start: Annotated[AwareDatetime | None, Query()] = None,
    end: Annotated[AwareDatetime | None, Query()] = None,
    sentiment: SentimentFilter | None = None,
    emotion: Annotated[str | None, Query(max_length=16)] = None,
    topic: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    min_reach: Annotated[int | None, Query(ge=0, le=10**15)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None,
) -> MentionPage | StreamingResponse:
    """One page of mentions as JSON, or every matching mention as CSV."""
    criteria = MentionFilter(
        brand=brand,
        start=start,
        end=end,
        sentiment=sentiment,
        emotion=emotion,
        topic=topic,
        language=language,
        platform=platform,
        min_reach=min_reach,
        q=q,
    )
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv:
        export = MentionExport(engine, criteria, cursor=cursor)
        return StreamingResponse(
            export.stream(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="mentions.csv"'},
        )
    return await mentions.search_mentions(
        session,
        criteria=criteria,
        limit=limit,
        cursor=cursor,
        show_handles=settings.api_show_handles,
    )
