"""Projection refreshes of an open incident through the real alerting worker (Kafka +
PostgreSQL).

Calm rollups following the population's day are stored (the worker rebuilds the brand from
them), then a calm hour and a story are replayed through Kafka. While the incident is open
the worker re-projects its story every 15 minutes of bin time:
- a story that keeps climbing to twenty times the usual volume is projected to keep at
  least three times it over the next 6 hours: a refresh raises the incident exactly one
  level, once, with one `severity_changed` event naming the projection;
- a story that peaked and declines is refreshed in its decline and never lowered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.detect.refresh import REFRESH_MINUTES
from services.alerting.incidents.severity import LEVELS, TRIPLING, is_projected_reason
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, IncidentRow, SignalRow
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

RATE = 3.0  # calm mentions per minute on an average hour of the population's day
HISTORY_HOURS = 46


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


def _peaked(minute: int) -> float:
    """x usual: calm, a sharp rise to 10x over 30 minutes, then a decline back to calm."""
    if minute < 60:
        return 1.0
    if minute < 90:
        return 1.0 + 9.0 * (minute - 59) / 30
    return max(1.0, 10.0 - 9.0 * (minute - 90) / 60)


def _climbing(minute: int) -> float:
    """x usual: calm, a climb to 20x over an hour, then held there (a story of 20x the
    current hour keeps over 3x the usual volume of the next 6 hours even when the day
    ahead is twice as busy as now)."""
    if minute < 60:
        return 1.0
    return min(20.0, 1.0 + 19.0 * (minute - 59) / 60)


def _boundary(at: datetime) -> bool:
    return int(at.timestamp()) % (REFRESH_MINUTES * 60) == 0


async def _incident_after(
    alerting: RunningAlerting,
    engine: AsyncEngine,
    producer: EventProducer,
    mentions: list[Any],
) -> tuple[Any, Any, list[Any], list[Any]]:
    """Replay `mentions` (one brand) through the worker until every bin is judged; return
    the brand's one incident as opened, as stored now, its signals and its events."""
    brand = mentions[0].mention.brands[0]
    alerting.start()
    try:
        await publish(engine, producer, alerting.settings.topic_scored, mentions)
        await processed_until(engine, brand, mentions[-1].mention.created_at)
        found = await wait_for(lambda: incidents(engine, brand), bool, timeout_s=60)
        assert len(found) == 1, "the story opened no incident (or more than one)"
        async with engine.connect() as conn:
            signals = (await conn.execute(select(SignalRow).where(SignalRow.brand == brand))).all()
            q = select(IncidentEventRow).where(IncidentEventRow.incident_id == found[0].id)
            events = (await conn.execute(q)).all()
            q_row = select(IncidentRow).where(IncidentRow.id == found[0].id)
            row = (await conn.execute(q_row)).one()
    finally:
        await alerting.shutdown()
        async with transaction(engine) as session:
            await session.execute(delete(SignalRow).where(SignalRow.brand == brand))
            await session.execute(delete(IncidentRow).where(IncidentRow.brand == brand))
    return found[0], row, list(signals), list(events)


async def test_a_climbing_story_is_raised_one_level_by_a_refreshed_projection(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"climb-{unique}"
    minutes = 165
    live = floor_minute(datetime.now(UTC)) - timedelta(minutes=minutes)
    await store_calm_rollups(
        db_engine, brand, live - timedelta(hours=HISTORY_HOURS), live, rate=RATE
    )
    mentions = day_shaped_mentions(
        Stream(brand), live, minutes, lambda m: RATE * _climbing(m), quiet=True
    )
    _, row, signals, events = await _incident_after(alerting, db_engine, producer, mentions)
    # Paged early in the climb, when its projection was not yet three times usual.
    first = min(signals, key=lambda s: s.at)
    assert first.details["projection"]["usual_multiple"] < TRIPLING
    raised = [
        e
        for e in events
        if e.kind == "severity_changed" and any(is_projected_reason(r) for r in e.data["reasons"])
    ]
    assert len(raised) == 1, "a refreshed projection of 3x usual must raise the incident once"
    step = raised[0].data
    assert LEVELS.index(step["previous_severity"]) - LEVELS.index(step["severity"]) == 1
    assert row.details["projection_raised"] is True
    assert row.details["projection"]["usual_multiple"] >= TRIPLING
    assert _boundary(datetime.fromisoformat(row.details["projection"]["at"]))
    assert LEVELS.index(row.severity) <= LEVELS.index(step["severity"])


async def test_an_open_incident_is_re_projected_by_the_worker_and_never_lowered(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"reproject-{unique}"
    minutes = 180
    live = floor_minute(datetime.now(UTC)) - timedelta(minutes=minutes)
    peak = live + timedelta(minutes=90)
    await store_calm_rollups(
        db_engine, brand, live - timedelta(hours=HISTORY_HOURS), live, rate=RATE
    )
    mentions = day_shaped_mentions(
        Stream(brand), live, minutes, lambda m: RATE * _peaked(m), quiet=True
    )
    opened, row, signals, events = await _incident_after(alerting, db_engine, producer, mentions)
    projection = row.details["projection"]
    held_at = datetime.fromisoformat(projection["at"])
    last_signal = max(s.at for s in signals)
    # Refreshed after the last signal, on a 15-minute boundary of bin time, in the decline.
    assert held_at > last_signal and _boundary(held_at), (held_at, last_signal)
    assert held_at > peak
    assert projection["usual_multiple"] < TRIPLING
    # Never lowered: the incident holds the most severe level it reached.
    reached = [opened.severity] + [
        e.data["severity"] for e in events if e.kind == "severity_changed"
    ]
    assert row.severity == min(reached, key=LEVELS.index)
