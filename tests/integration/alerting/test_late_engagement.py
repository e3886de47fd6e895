"""A post that goes viral hours after it was written raises engagement velocity, on real Kafka.

Hours of calm are produced in event-time order, as in test_detection_streaming; the viral
post's `updated` events (growing share counts, written three hours earlier) are produced
at the minutes they arrived. Before, the alerting bins dropped them as late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.sentiment.store import store_scored
from shared import serde
from shared.db.engine import transaction
from shared.db.models import MentionRow, SignalRow
from shared.kafka import EventProducer
from shared.schemas import Engagement, ScoredMention
from shared.settings.alerting import AlertingSettings
from tests.detection_helpers import (
    CALM_HOURS,
    RunningAlerting,
    Stream,
    floor_minute,
    processed_until,
)
from tests.kafka_helpers import wait_for

VIRAL_MINUTES = 10


@pytest.fixture
def alerting(settings_factory: Callable[..., Any]) -> Iterator[RunningAlerting]:
    """An alerting service on this test's topics, tuned for a fast test clock."""
    settings = settings_factory(
        AlertingSettings, alerting_checkpoint_s=0.5, alerting_idle_flush_s=3.0
    )
    service = RunningAlerting(settings)
    yield service
    if service.task is not None:
        service.stop.set()


def _arrival(item: ScoredMention) -> datetime:
    m = item.mention
    return m.ingested_at if m.kind == "updated" else m.created_at


async def _publish(
    engine: AsyncEngine, producer: EventProducer, topic: str, items: Sequence[ScoredMention]
) -> None:
    """Store (as sentiment does) and produce in arrival order: updates when they arrived."""
    ordered = sorted(items, key=_arrival)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        async with transaction(engine) as session:
            await store_scored(session, chunk)
        await producer.send_many(
            topic, [(s.mention.key, serde.dumps(s.model_dump(mode="json"))) for s in chunk]
        )


def _viral(post: ScoredMention, start: datetime) -> list[ScoredMention]:
    """`updated` events of `post`, two a minute, its shares growing faster every minute."""
    out = []
    shares = post.mention.engagement.shares
    for k in range(2 * VIRAL_MINUTES):
        shares += 10 * (k + 1)
        mention = post.mention.model_copy(
            update={
                "kind": "updated",
                "ingested_at": start + timedelta(seconds=30 * k + 5),
                "engagement": Engagement(likes=3 * shares, shares=shares, replies=shares // 4),
            }
        )
        out.append(post.model_copy(update={"mention": mention}))
    return out


async def _signals(engine: AsyncEngine, brand: str) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(SignalRow).where(SignalRow.brand == brand))
        return list(rows.all())


async def test_a_post_going_viral_hours_later_raises_engagement_velocity(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"viral-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    viral_start = now - timedelta(minutes=VIRAL_MINUTES + 2)
    calm = stream.calm(now - timedelta(hours=CALM_HOURS), now)
    written = now - timedelta(hours=3)
    post = stream.mention(written, negative=True, author="a_big_account")
    post = post.model_copy(
        update={"mention": post.mention.model_copy(update={"author_reach": 250_000})}
    )
    updates = _viral(post, viral_start)
    alerting.start()
    try:
        await _publish(db_engine, producer, alerting.settings.topic_scored, [*calm, post, *updates])
        found = await wait_for(
            lambda: _signals(db_engine, brand),
            lambda rows: any(r.rule == "engagement_velocity" for r in rows),
            timeout_s=120,
        )
        alerting.assert_running()
        velocity = [r for r in found if r.rule == "engagement_velocity"]
        assert velocity, f"no engagement_velocity signal: {[r.rule for r in found]}"
        # It fired when the engagement arrived, not in the hour the post was written.
        assert all(viral_start <= s.at <= now + timedelta(minutes=2) for s in velocity)
        await processed_until(db_engine, brand, now - timedelta(minutes=1))
        # The updates were neither late nor new mentions: the sentiment store kept one row.
        assert alerting.metric("crisiswatch_alerting_late_mentions_total") == 0
        async with db_engine.connect() as conn:
            stored = (
                await conn.execute(
                    select(MentionRow.shares).where(
                        MentionRow.external_id == post.mention.external_id
                    )
                )
            ).all()
        assert [r.shares for r in stored] == [updates[-1].mention.engagement.shares]
    finally:
        await alerting.shutdown()
