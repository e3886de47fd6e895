"""Per-minute bins: event-time closing, lateness, idle flush, zero fill, replay dedupe, and
engagement that arrives later (`updated` events)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from services.alerting.detect.bins import BRAND_TOPIC, Bin, BinAggregator
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


def update(n: int, written: datetime, arrived: datetime, *, shares: int) -> ScoredMention:
    """An `updated` event of post `n` arriving at `arrived` with new counts."""
    base = scored(n, written, negative=True)
    mention = base.mention.model_copy(
        update={
            "kind": "updated",
            "ingested_at": arrived,
            "engagement": Engagement(shares=shares, replies=1),
        }
    )
    return base.model_copy(update={"mention": mention})


def by_minute(groups: list[list[Bin]]) -> dict[datetime, Bin]:
    return {g[0].end: g[0] for g in groups}


def test_engagement_arriving_later_counts_when_it_arrives() -> None:
    agg = BinAggregator(lateness_s=0, idle_flush_s=1e9)
    weight = 1 + math.log10(5000 / 1000)  # author reach 5000
    agg.add(scored(1, T0 + timedelta(seconds=5), negative=True), wall_now=0)
    agg.add(scored(2, T0 + timedelta(hours=3), author="a2"), wall_now=0)
    first = by_minute(agg.close(wall_now=0))
    assert first[T0 + timedelta(minutes=1)].neg_engagement == pytest.approx(3 * weight)

    # Three hours later the post is shared 100 times: the gain (not the total) counts in
    # the minute it arrived, it is not a new mention and not late.
    viral = T0 + timedelta(hours=3, seconds=30)
    assert agg.add(update(1, T0 + timedelta(seconds=5), viral, shares=102), wall_now=0) == []
    assert agg.add(update(1, T0 + timedelta(seconds=5), viral, shares=102), wall_now=0) == []
    agg.add(scored(3, T0 + timedelta(hours=3, minutes=2), author="a3"), wall_now=0)
    now = by_minute(agg.close(wall_now=0))
    arrived = now[T0 + timedelta(hours=3, minutes=1)]
    assert arrived.neg_engagement == pytest.approx(100 * weight)  # the repeat gained nothing
    assert arrived.count == 1 and arrived.negatives == 0  # only post 2 was written then
    assert agg.late == 0


def test_update_of_a_closed_minute_lands_in_the_first_open_bin() -> None:
    agg = BinAggregator(lateness_s=0, idle_flush_s=1e9)
    agg.add(scored(1, T0, negative=True), wall_now=0)
    agg.add(scored(2, T0 + timedelta(minutes=5), author="a2"), wall_now=0)
    agg.close(wall_now=0)
    # Arrival stamped before the watermark (a slow connector): the next open minute.
    agg.add(update(1, T0, T0 + timedelta(minutes=1), shares=12), wall_now=0)
    agg.add(scored(3, T0 + timedelta(minutes=7), author="a3"), wall_now=0)
    groups = by_minute(agg.close(wall_now=0))
    assert groups[T0 + timedelta(minutes=6)].neg_engagement > 0


def test_unknown_or_old_posts_gain_nothing_until_seen_again() -> None:
    agg = BinAggregator(lateness_s=0, idle_flush_s=1e9)
    agg.add(scored(9, T0, author="a9"), wall_now=0)
    agg.add(scored(10, T0 + timedelta(days=3), author="a10"), wall_now=0)
    agg.close(wall_now=0)
    arrive = T0 + timedelta(days=3, seconds=10)
    # Unknown post: its counts are the baseline, not a gain (a backlog is no spike).
    agg.add(update(5, T0 + timedelta(days=3) - timedelta(hours=1), arrive, shares=500), wall_now=0)
    # Written before the 48h horizon: never gains.
    agg.add(update(6, T0, arrive, shares=500), wall_now=0)
    agg.add(update(6, T0, arrive, shares=900), wall_now=0)
    agg.add(scored(11, T0 + timedelta(days=3, minutes=2), author="a11"), wall_now=0)
    assert all(b.neg_engagement == 0 for g in agg.close(wall_now=0) for b in g)
    # Seen once, post 5 now gains.
    later = arrive + timedelta(minutes=3)
    agg.add(update(5, T0 + timedelta(days=3) - timedelta(hours=1), later, shares=600), wall_now=0)
    agg.add(scored(12, later + timedelta(minutes=2), author="a12"), wall_now=0)
    gains = [b.neg_engagement for g in agg.close(wall_now=0) for b in g if b.neg_engagement]
    assert gains == [pytest.approx(100 * (1 + math.log10(5)))]


def test_updates_do_not_advance_the_watermark_and_survive_a_restore() -> None:
    agg = BinAggregator(lateness_s=0, idle_flush_s=1e9)
    agg.add(scored(1, T0, negative=True), wall_now=0)
    agg.add(update(1, T0, T0 + timedelta(hours=1), shares=50), wall_now=0)
    groups = agg.close(wall_now=0)
    assert groups == []  # the update's minute waits for the event-time watermark
    data = agg.to_dict("acme")
    assert data is not None and data["spread"]
    again = BinAggregator(lateness_s=0, idle_flush_s=1e9)
    again.restore("acme", data, wall_now=0)
    # The replayed update (after a crash) gains nothing more; the open bins came back.
    again.add(update(1, T0, T0 + timedelta(hours=1), shares=50), wall_now=0)
    again.add(scored(2, T0 + timedelta(hours=1, minutes=2), author="a2"), wall_now=0)
    total = sum(b.neg_engagement for g in again.close(wall_now=0) for b in g if not b.topic)
    assert total == pytest.approx((3 + 48) * (1 + math.log10(5)))
