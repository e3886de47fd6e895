"""Slow burns, level shifts and young brands through the real alerting worker (Kafka +
PostgreSQL).

Calm minute rollups are stored first (the worker rebuilds the brand from them, as after a
deploy); then the last calm hour and what follows are replayed through Kafka. Calm volume
follows the population's day (`POPULATION_DAY_SHAPE`), so what is judged does not depend on
the hour of the day the test runs at:
- a brand watched for a week whose mentions double over 12 hours, with no sharp spike,
  opens one incident;
- a lasting level shift (three times the mentions from one hour on, for 30 hours) opens at
  most one;
- a brand watched for two days only gets its sharp crisis caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.models import SignalRow
from shared.kafka import EventProducer
from shared.settings.alerting import AlertingSettings
from tests.detection_helpers import (
    RunningAlerting,
    Stream,
    day_shaped_mentions,
    floor_minute,
    incidents,
    processed_until,
    publish,
    store_calm_rollups,
)
from tests.kafka_helpers import wait_for

RATE = 3.0  # calm mentions per minute
HISTORY_HOURS = 60
BURN_HISTORY_HOURS = 7 * 24  # the sustained watch learns a brand's hourly noise over days
RAMP_HOURS = 12
SHIFT_HOURS = 30  # past a day: the day-over-day rule sees the new level too
SHIFT_RATE = 1.0  # fewer mentions to replay over the long shift
YOUNG_HOURS = 46  # watched since two days before the crisis


@pytest.fixture
def alerting(settings_factory: Callable[..., Any]) -> Iterator[RunningAlerting]:
    """An alerting service on this test's topics, tuned for a fast test clock."""
    settings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=3.0,
        alerting_rebuild_hours=BURN_HISTORY_HOURS + 24,  # every stored calm hour is rebuilt
    )
    service = RunningAlerting(settings)
    yield service
    if service.task is not None:
        service.stop.set()


async def _judged(
    alerting: RunningAlerting,
    producer: EventProducer,
    engine: AsyncEngine,
    mentions: list[Any],
    *,
    expect_incident: bool,
) -> tuple[list[Any], list[Any]]:
    """Replay `mentions` (one brand) through the worker until every bin is judged; return the
    brand's incidents and signals."""
    brand = mentions[0].mention.brands[0]
    alerting.start()
    try:
        await publish(engine, producer, alerting.settings.topic_scored, mentions)
        await processed_until(engine, brand, mentions[-1].mention.created_at)
        if expect_incident:
            await wait_for(lambda: incidents(engine, brand), bool, timeout_s=60)
        # The worker has judged every bin, so what is stored now is all it will open.
        found = await incidents(engine, brand)
        async with engine.connect() as conn:
            q = select(SignalRow).where(SignalRow.brand == brand)
            signals = list((await conn.execute(q)).all())
    finally:
        await alerting.shutdown()
    return found, signals


async def test_slow_burn_in_a_replayed_series_opens_an_incident(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"burn-{unique}"
    now = floor_minute(datetime.now(UTC))
    burn = now - timedelta(hours=RAMP_HOURS + 1)
    live = burn - timedelta(hours=1)
    await store_calm_rollups(
        db_engine, brand, live - timedelta(hours=BURN_HISTORY_HOURS), live, rate=RATE
    )
    mentions = day_shaped_mentions(
        Stream(brand),
        live,
        (RAMP_HOURS + 2) * 60,
        lambda minute: RATE * (1.0 + min(1.0, max(0.0, minute / 60 - 1) / RAMP_HOURS)),
    )
    found, signals = await _judged(alerting, producer, db_engine, mentions, expect_incident=True)
    assert len(found) == 1, "the slow burn opened no incident (or more than one)"
    # Paged by a volume path (the hourly sustained watch, or the count path's longer
    # horizons on a brand this calm) while the burn grows, not after it.
    assert signals and {s.rule for s in signals} <= {"sustained_rise", "volume_spike"}
    first = min(s.at for s in signals)
    assert burn <= first <= burn + timedelta(hours=RAMP_HOURS + 1)
    assert {s.incident_id for s in signals} == {found[0].id}


async def test_a_lasting_level_shift_opens_at_most_one_incident(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"shift-{unique}"
    now = floor_minute(datetime.now(UTC))
    live = now - timedelta(hours=SHIFT_HOURS + 1)
    history = live - timedelta(hours=HISTORY_HOURS)
    await store_calm_rollups(db_engine, brand, history, live, rate=SHIFT_RATE)
    mentions = day_shaped_mentions(
        Stream(brand),
        live,
        (SHIFT_HOURS + 1) * 60,
        lambda minute: SHIFT_RATE * (3.0 if minute >= 60 else 1.0),
    )
    found, signals = await _judged(alerting, producer, db_engine, mentions, expect_incident=False)
    assert len(found) <= 1, f"a level shift opened {len(found)} incidents"
    assert {s.incident_id for s in signals} <= {f.id for f in found}


async def test_a_brand_watched_for_two_days_gets_its_crisis_caught(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"young-{unique}"
    now = floor_minute(datetime.now(UTC))
    live = now - timedelta(hours=2)
    crisis = live + timedelta(minutes=60)
    await store_calm_rollups(db_engine, brand, live - timedelta(hours=YOUNG_HOURS), live, rate=RATE)
    mentions = day_shaped_mentions(
        Stream(brand), live, 120, lambda minute: RATE * (8.0 if 60 <= minute < 90 else 1.0)
    )
    found, signals = await _judged(alerting, producer, db_engine, mentions, expect_incident=True)
    assert len(found) == 1
    first = min(s.at for s in signals)
    assert crisis <= first <= crisis + timedelta(minutes=30), "caught late, or before it began"
