"""Projection refreshes of an open incident through the real alerting worker (Kafka +
PostgreSQL).

Calm rollups following the population's day are stored (the worker rebuilds the brand from
them), then a calm hour, a sharp rise and its decline are replayed through Kafka. While the
incident is open the worker re-projects its story every 15 minutes of bin time: the
incident ends with a refreshed projection on a 15-minute boundary, and a story that peaked
and declines is never lowered. With the shipped forecast (pace, then decay by half an hour)
a story's projected rise stays below severity's tripling step, so no refresh re-grades it;
the re-grade itself is tested at the store (test_projection_refresh.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.detect.refresh import REFRESH_MINUTES
from services.alerting.detect.season import POPULATION_DAY_SHAPE
from services.alerting.incidents.severity import LEVELS, TRIPLING
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, IncidentRow, RollupRow, SignalRow
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

RATE = 3.0  # calm mentions per minute on an average hour of the population's day
HISTORY_HOURS = 46
REPLAY_MINUTES = 180  # a calm hour, a 30-minute rise, 90 minutes of decline


@pytest.fixture
def alerting(settings_factory: Callable[..., Any]) -> Iterator[RunningAlerting]:
    """An alerting service on this test's topics, tuned for a fast test clock."""
    settings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=3.0,
        alerting_rebuild_hours=HISTORY_HOURS + 24,
    )
    service = RunningAlerting(settings)
    yield service
    if service.task is not None:
        service.stop.set()


def _rate(minute: int) -> float:
    """Mentions a minute: calm, then a sharp rise to 10x, then a decline back to calm."""
    if minute < 60:
        return RATE
    if minute < 90:
        return RATE * (1.0 + 9.0 * (minute - 59) / 30)
    return RATE * max(1.0, 10.0 - 9.0 * (minute - 90) / 60)


async def _store_history(engine: AsyncEngine, brand: str, start: datetime, end: datetime) -> None:
    """Store calm per-minute rollups of `brand` in [start, end), seeded."""
    rng = random.Random(3)
    rows = []
    minute = start
    while minute < end:
        mean = RATE * POPULATION_DAY_SHAPE[minute.hour]
        volume = max(0, round(rng.gauss(mean, mean**0.5)))
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


def _replay(stream: Stream, live: datetime) -> list[Any]:
    """The replayed mentions: `_rate` a minute on an average hour of the day, seeded."""
    rng = random.Random(5)
    out = []
    for minute in range(REPLAY_MINUTES):
        at = live + timedelta(minutes=minute)
        rate = _rate(minute) * POPULATION_DAY_SHAPE[at.hour]
        for _ in range(max(0, round(rng.gauss(rate, rate**0.5)))):
            second = timedelta(seconds=rng.uniform(0, 59.9))
            out.append(stream.mention(at + second, negative=rng.random() < 0.6))
    return out


def _boundary(at: datetime) -> bool:
    return int(at.timestamp()) % (REFRESH_MINUTES * 60) == 0


async def test_an_open_incident_is_re_projected_by_the_worker_and_never_lowered(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"reproject-{unique}"
    now = floor_minute(datetime.now(UTC))
    live = now - timedelta(minutes=REPLAY_MINUTES)
    peak = live + timedelta(minutes=90)
    await _store_history(db_engine, brand, live - timedelta(hours=HISTORY_HOURS), live)
    mentions = _replay(Stream(brand), live)
    alerting.start()
    try:
        await publish(db_engine, producer, alerting.settings.topic_scored, mentions)
        await processed_until(db_engine, brand, mentions[-1].mention.created_at)
        found = await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=60)
        assert len(found) == 1, "the sharp rise opened no incident (or more than one)"
        incident_id = found[0].id
        async with db_engine.connect() as conn:
            signals = (await conn.execute(select(SignalRow).where(SignalRow.brand == brand))).all()
            events = (
                await conn.execute(
                    select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
                )
            ).all()
            row = (
                await conn.execute(select(IncidentRow).where(IncidentRow.id == incident_id))
            ).one()
    finally:
        await alerting.shutdown()
        async with transaction(db_engine) as session:
            await session.execute(SignalRow.__table__.delete().where(SignalRow.brand == brand))
            await session.execute(IncidentRow.__table__.delete().where(IncidentRow.brand == brand))
    projection = row.details["projection"]
    held_at = datetime.fromisoformat(projection["at"])
    last_signal = max(s.at for s in signals)
    # Refreshed after the last signal, on a 15-minute boundary of bin time, in the decline.
    assert held_at > last_signal and _boundary(held_at), (held_at, last_signal)
    assert held_at > peak
    assert projection["story_rise"] < TRIPLING
    # Never lowered: the incident holds the most severe level it reached.
    reached = [found[0].severity] + [
        e.data["severity"] for e in events if e.kind == "severity_changed"
    ]
    assert row.severity == min(reached, key=LEVELS.index)
    assert not (row.details or {}).get("projection_raised")
