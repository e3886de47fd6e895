"""A provisional new normal after a page (`recheck_hours`, off by default): a decaying crisis
falls back, a lasting shift keeps its level."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from services.alerting.detect.counts import CountConfig, CountDetector, preset
from tools.eval.scenarios import Points, synthetic_base

BIN = 300
PER_HOUR = 3600 // BIN
ONSET = 4 * 24 * PER_HOUR


def _provisional() -> CountConfig:
    return replace(preset(bin_seconds=BIN), recheck_hours=24.0)


def _run(det: CountDetector, points: Points) -> list:
    return [a for ts, v in points if (a := det.update(ts, v)) is not None]


def _crisis(points: Points, half_life_hours: float = 3.0) -> Points:
    """x8 at the onset, decaying back to ordinary with the given half-life."""
    out = []
    for i, (ts, v) in enumerate(points):
        hours = (i - ONSET) / PER_HOUR
        factor = 1 + 7 * math.exp(-hours * math.log(2) / half_life_hours) if hours >= 0 else 1
        out.append((ts, round(v * factor)))
    return out


def _hourly_expectation_after(det: CountDetector, points: Points, hours: float) -> float:
    _run(det, points[: ONSET + round(hours * PER_HOUR)])
    return det.expected_count(60)


def test_decaying_crisis_expectation_returns_to_normal_within_a_day() -> None:
    points = _crisis(synthetic_base(8, 20.0, seed=21))
    normal = 20.0 * PER_HOUR
    det = CountDetector(_provisional())
    assert _hourly_expectation_after(det, points, 24) < 1.5 * normal
    assert det.adapted >= 1 and det.probation is None
    # Without the re-check the adopted crisis level is still the expectation a day later.
    final = CountDetector(replace(preset(bin_seconds=BIN), recheck_hours=0.0))
    assert _hourly_expectation_after(final, points, 24) > 2 * normal


def test_lasting_shift_pages_once_and_keeps_its_new_level() -> None:
    points = synthetic_base(10, 20.0, seed=22)
    lifted = [(ts, round(v * 2.5) if i >= ONSET else v) for i, (ts, v) in enumerate(points)]
    det = CountDetector(_provisional())
    alerts = _run(det, lifted)
    assert len(alerts) == 1
    assert det.adapted == 1 and det.probation is None
    final = CountDetector(replace(preset(bin_seconds=BIN), recheck_hours=0.0))
    assert [a.ts for a in _run(final, lifted)] == [a.ts for a in alerts]
    assert det.expected_count(60) == pytest.approx(final.expected_count(60), rel=0.05)


def test_state_under_probation_round_trips_and_old_state_loads() -> None:
    points = _crisis(synthetic_base(7, 20.0, seed=23))
    whole = CountDetector(_provisional())
    first = [a.ts for a in _run(whole, points)]
    half = CountDetector(_provisional())
    cut = ONSET + 8 * PER_HOUR
    _run(half, points[:cut])
    assert half.probation is not None
    restored = CountDetector.from_dict(json.loads(json.dumps(half.to_dict())))
    later = [t for t in first if t >= points[cut][0]]
    assert [a.ts for a in _run(restored, points[cut:])] == later
    assert restored.level == pytest.approx(whole.level)
    old = half.to_dict()
    del old["probation"]
    del old["config"]["recheck_hours"], old["config"]["recheck_window_hours"]
    assert CountDetector.from_dict(old).probation is None
