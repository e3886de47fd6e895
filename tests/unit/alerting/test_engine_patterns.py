"""Replays through the engine's live path: a slow burn, a level shift and a young brand."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.signals import RollupMinute, Signal
from services.alerting.detect.stories import OpenStory, place_signal
from tools.eval.scenarios import Points, synthetic_base

HOUR = 60  # one-minute bins


def _minutes(points: Points) -> list[RollupMinute]:
    return [
        RollupMinute(
            start=ts.timestamp(),
            topic="",
            count=int(v),
            negatives=int(v) // 3,
            scored=int(v),
            burst=0.0,
            neg_engagement=0.0,
            distinct_authors=int(v),
        )
        for ts, v in points
    ]


def _signals(points: Points) -> list[Signal]:
    engine = DetectionEngine(EngineConfig(topics=()))  # the brand series alone: faster
    until = points[-1][0].timestamp() + 60
    out = engine.replay("acme", _minutes(points), until=until, emit=True)
    return [s for s in out.signals if s.rule in ("volume_spike", "sustained_rise")]


def _incidents(signals: list[Signal]) -> int:
    """Group the signals as the incident store does; return how many incidents open."""
    stories: list[OpenStory] = []
    for s in signals:
        placed = place_signal(
            story_topic=s.story_topic, at=s.at, open_stories=stories, window=timedelta(hours=6)
        )
        if placed.incident_id is None:
            stories.append(OpenStory(len(stories) + 1, s.story_topic, s.at, "SEV3"))
        else:
            stories = [
                OpenStory(o.incident_id, o.topic, s.at, o.severity)
                if o.incident_id == placed.incident_id
                else o
                for o in stories
            ]
    return len(stories)


def _lift(points: Points, factor: list[float]) -> Points:
    return [(ts, round(v * f)) for (ts, v), f in zip(points, factor, strict=True)]


def _onset(points: Points, at: int) -> datetime:
    return points[at][0]


@pytest.mark.parametrize("start_hour", [1, 7, 13, 19])
def test_twelve_hour_slow_burn_of_complaints_opens_one_incident(start_hour: int) -> None:
    """A brand watched for a week: its 12-hour doubling opens one incident while it grows,
    whatever hour of the population's day (night x0.5 to afternoon x1.5) it starts at."""
    at, ramp = 7 * 24 * HOUR + start_hour * HOUR, 12 * HOUR
    points = synthetic_base(9, 3.0, seed=11, bin_seconds=60)[: at + ramp + 2 * HOUR]
    factor = [1.0 + min(1.0, max(0, i - at) / ramp) for i in range(len(points))]
    signals = _signals(_lift(points, factor))
    assert signals and _incidents(signals) == 1
    assert _onset(points, at) <= signals[0].at <= _onset(points, at + ramp)


def test_lasting_level_shift_opens_at_most_one_incident() -> None:
    points = synthetic_base(6, 3.0, seed=12, bin_seconds=60)
    at = 2 * 24 * HOUR
    signals = _signals(_lift(points, [2.5 if i >= at else 1.0 for i in range(len(points))]))
    assert _incidents(signals) <= 1


def test_brand_added_two_days_ago_gets_its_crisis_caught() -> None:
    points = synthetic_base(2.5, 3.0, seed=13, bin_seconds=60)
    at = 2 * 24 * HOUR
    factor = [5.0 if at <= i < at + 2 * HOUR else 1.0 for i in range(len(points))]
    signals = _signals(_lift(points, factor))
    assert len(signals) == 1
    assert _onset(points, at) <= signals[0].at <= _onset(points, at) + timedelta(minutes=30)


def test_young_model_setting_catches_a_small_brand_on_its_first_day() -> None:
    points = synthetic_base(1, 0.1, seed=14, bin_seconds=60)
    at = 5 * HOUR
    # 30 more mentions in an hour that usually brings 3-6, five hours after the brand was added.
    crisis = [
        (ts, v + (1 if at <= i < at + HOUR and i % 2 == 0 else 0))
        for i, (ts, v) in enumerate(points)
    ]
    until = points[-1][0].timestamp() + 60
    found = {}
    for young in (False, True):
        engine = DetectionEngine(EngineConfig(topics=(), young_model=young))
        out = engine.replay("acme", _minutes(crisis), until=until, emit=True)
        found[young] = [s for s in out.signals if s.rule == "volume_spike"]
    assert found[False] == []
    assert len(found[True]) == 1 and found[True][0].details["young"] is True
    assert _onset(points, at) <= found[True][0].at <= _onset(points, at + HOUR)
