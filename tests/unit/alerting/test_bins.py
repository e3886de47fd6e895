"""Per-minute bins: event-time closing, lateness, idle flush, zero fill, replay dedupe."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from services.alerting.detect.bins import BRAND_TOPIC, BinAggregator
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


def scored(
    n: int,
    at: datetime,
    *,
    author: str = "a1",
    negative: bool = False,
    topics: list[str] | None = None,
) -> ScoredMention:
    label = "negative" if negative else "neutral"
    return ScoredMention(
        mention=Mention(
            platform="x",
            external_id=str(n),
            author_id=author,
            author_reach=5000,
            text="t",
            created_at=at,
            engagement=Engagement(shares=2, replies=1),
            brands=["acme"],
            source={"market": "us"},
        ),
        language="en",
        language_confidence=1.0,
        sentiment=SentimentScore(label=label, score=-0.5, confidence=1.0, scorer="t"),
        emotion="anger" if negative else None,
        topics=topics or [],
    )


def test_bins_close_by_watermark_with_lateness_and_fill_gaps() -> None:
    agg = BinAggregator(lateness_s=20, idle_flush_s=1e9, topics=["recall"])
    agg.add(scored(1, T0 + timedelta(seconds=5), negative=True, topics=["recall"]), wall_now=0)
    agg.add(scored(2, T0 + timedelta(seconds=50), author="a2"), wall_now=0)
    assert agg.close(wall_now=0) == []
    agg.add(scored(3, T0 + timedelta(minutes=3, seconds=25)), wall_now=0)
    groups = agg.close(wall_now=0)
    assert [g[0].start for g in groups] == [
        (T0 + timedelta(minutes=m)).timestamp() for m in range(3)
    ]
    first = {b.topic: b for b in groups[0]}
    assert set(first) == {BRAND_TOPIC, "recall"}
    brand = first[BRAND_TOPIC]
    assert (brand.count, brand.negatives, brand.scored, brand.burst) == (2, 1, 2, 1)
    assert brand.distinct_authors == 2 and brand.top_author_share == 0.5
    assert brand.markets == {"US": 2} and brand.platforms == {"x": 2}
    assert abs(brand.neg_engagement - 3 * (1 + math.log10(5))) < 1e-9  # reach-weighted
    assert first["recall"].count == 1
    assert all(b.count == 0 for b in groups[1] + groups[2])  # zero-filled minutes


def test_late_mention_is_dropped_and_replay_is_counted_once() -> None:
    agg = BinAggregator(lateness_s=0, idle_flush_s=1e9)
    agg.add(scored(1, T0 + timedelta(seconds=10)), wall_now=0)
    agg.add(scored(1, T0 + timedelta(seconds=10)), wall_now=0)  # replayed record
    agg.add(scored(2, T0 + timedelta(minutes=1, seconds=1)), wall_now=0)
    (group,) = agg.close(wall_now=0)
    assert group[0].count == 1
    assert agg.add(scored(3, T0 + timedelta(seconds=30)), wall_now=0) == ["acme"]
    assert agg.late == 1


def test_idle_brand_is_flushed_by_wall_clock() -> None:
    agg = BinAggregator(lateness_s=20, idle_flush_s=30)
    wall = (T0 + timedelta(seconds=10)).timestamp()
    agg.add(scored(1, T0 + timedelta(seconds=10)), wall_now=wall)
    assert agg.close(wall_now=wall + 29) == []
    groups = agg.close(wall_now=wall + 200)
    assert len(groups) == 3 and groups[0][0].count == 1  # up to wall - lateness


def test_state_round_trip_keeps_open_bins_and_dedupe() -> None:
    agg = BinAggregator(lateness_s=20, idle_flush_s=1e9)
    agg.add(scored(1, T0 + timedelta(seconds=10)), wall_now=0)
    data = agg.to_dict("acme")
    assert data is not None
    again = BinAggregator(lateness_s=20, idle_flush_s=1e9)
    again.restore("acme", data, wall_now=0)
    again.add(scored(1, T0 + timedelta(seconds=10)), wall_now=0)
    again.add(scored(2, T0 + timedelta(minutes=2)), wall_now=0)
    (group,) = again.close(wall_now=0)
    assert group[0].count == 1
