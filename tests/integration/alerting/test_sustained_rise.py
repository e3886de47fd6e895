"""A slow burn through the real alerting worker (Kafka + PostgreSQL) opens an incident.

Two and a half days of calm minute rollups are stored first (the worker rebuilds the brand
from them, as after a deploy); then the last calm hour and a 12-hour doubling of the
brand's mentions, with no sharp spike, are replayed through Kafka.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import transaction
from shared.db.models import RollupRow, SignalRow
from shared.kafka import EventProducer
from shared.settings.alerting import AlertingSettings
from tests.detection_helpers import (
    RunningAlerting,
    Stream,
    floor_minute,
    incidents,
    processed_until,
    publish,
)
from tests.kafka_helpers import wait_for

RATE = 3.0  # calm mentions per minute
HISTORY_HOURS = 60
RAMP_HOURS = 12


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


async def _store_history(engine: AsyncEngine, brand: str, start: datetime, end: datetime) -> None:
    """Store calm per-minute rollups of `brand` in [start, end), as the sentiment service would."""
    rng = random.Random(3)
    rows = []
    minute = start
    while minute < end:
        volume = max(0, round(rng.gauss(RATE, RATE**0.5)))
        negative = sum(rng.random() < 0.15 for _ in range(volume))
        rows.append(
            {
                "brand": brand,
                "minute": minute,
                "topic": "",
                "platform": "x",
                "language": "en",
                "volume": volume,
                "negative": negative,
                "neutral": volume - negative,
                "distinct_authors": volume,
            }
        )
        minute += timedelta(minutes=1)
    async with transaction(engine) as session:
        await session.execute(insert(RollupRow), rows)


async def test_slow_burn_in_a_replayed_series_opens_an_incident(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"burn-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    burn = now - timedelta(hours=RAMP_HOURS + 1)
    live = burn - timedelta(hours=1)
    await _store_history(db_engine, brand, live - timedelta(hours=HISTORY_HOURS), live)
    rng = random.Random(5)
    mentions = []
    for minute in range((RAMP_HOURS + 2) * 60):
        at = live + timedelta(minutes=minute)
        rate = RATE * (1.0 + min(1.0, max(0.0, minute / 60 - 1) / RAMP_HOURS))
        for _ in range(max(0, round(rng.gauss(rate, rate**0.5)))):
            second = timedelta(seconds=rng.uniform(0, 59.9))
            mentions.append(stream.mention(at + second, negative=rng.random() < 0.15))
    alerting.start()
    try:
        await publish(db_engine, producer, alerting.settings.topic_scored, mentions)
        await processed_until(db_engine, brand, mentions[-1].mention.created_at)
        found = await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=60)
        assert len(found) == 1, "the slow burn opened no incident (or more than one)"
        async with db_engine.connect() as conn:
            q = select(SignalRow).where(SignalRow.brand == brand)
            signals = (await conn.execute(q)).all()
        rules = {s.rule for s in signals}
        assert "sustained_rise" in rules
        first = min(s.at for s in signals if s.rule == "sustained_rise")
        assert burn <= first <= burn + timedelta(hours=RAMP_HOURS + 1)
        assert {s.incident_id for s in signals} == {found[0].id}
    finally:
        await alerting.shutdown()
