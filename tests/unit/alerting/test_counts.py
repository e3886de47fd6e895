"""Count-model volume detector on seeded synthetic series of the patterns it must handle."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.alerting.detect.counts import CountDetector, preset
from services.alerting.detect.season import POPULATION_DAY_SHAPE, surprise
from services.alerting.detect.spikes import SpikeDetector
from services.alerting.detect.spikes import preset as spike_preset
from tools.eval.scenarios import Points, _poisson, synthetic_base

BIN = 300
PER_HOUR = 3600 // BIN


def _run(det: CountDetector | SpikeDetector, points: Points) -> list:
    return [a for ts, v in points if (a := det.update(ts, v)) is not None]


def _lift(points: Points, factor: list[float]) -> Points:
    return [(ts, round(v * f)) for (ts, v), f in zip(points, factor, strict=True)]


def _exact_tail(x: int, mean: float, dispersion: float) -> float:
    """P(X >= x) by summing the pmf upwards (Poisson when dispersion is 0)."""
    if dispersion == 0:
        terms = (k * math.log(mean) - mean - math.lgamma(k + 1) for k in range(x, x + 400))
    else:
        r = 1 / dispersion
        p = r / (r + mean)
        terms = (
            math.lgamma(k + r)
            - math.lgamma(r)
            - math.lgamma(k + 1)
            + r * math.log(p)
            + k * math.log(1 - p)
            for k in range(x, x + 400)
        )
    return sum(math.exp(t) for t in terms)


@pytest.mark.parametrize(("x", "mean", "d"), [(15, 1.0, 0.0), (3, 0.5, 0.0), (12, 2.0, 0.3)])
def test_surprise_is_the_exact_tail_at_small_counts(x: int, mean: float, d: float) -> None:
    assert surprise(x, mean, d) == pytest.approx(-math.log10(_exact_tail(x, mean, d)), rel=1e-6)
    assert surprise(0, mean, d) == 0.0
    assert surprise(x + 5, mean, d) > surprise(x, mean, d)


def test_calm_week_does_not_page() -> None:
    for seed, mean in ((1, 20.0), (2, 1.0), (3, 0.3)):
        assert (
            _run(CountDetector(preset(bin_seconds=BIN)), synthetic_base(7, mean, seed=seed)) == []
        )


def test_low_volume_brand_pages_on_fifteen_where_one_is_usual() -> None:
    points = synthetic_base(5, 1.0, seed=4)
    at = 4 * 24 * PER_HOUR + 30
    burst = [(ts, v + 15 if at <= i < at + 6 else v) for i, (ts, v) in enumerate(points)]
    alerts = _run(CountDetector(preset(bin_seconds=BIN)), burst)
    assert len(alerts) == 1
    assert points[at][0] <= alerts[0].ts <= points[at][0] + timedelta(minutes=10)


def test_brand_added_a_day_ago_gets_its_crisis_caught() -> None:
    points = synthetic_base(2, 20.0, seed=5)
    at = 20 * PER_HOUR
    factor = [4.0 if at <= i < at + PER_HOUR else 1.0 for i in range(len(points))]
    alerts = _run(CountDetector(preset(bin_seconds=BIN)), _lift(points, factor))
    assert len(alerts) == 1
    assert points[at][0] <= alerts[0].ts <= points[at][0] + timedelta(minutes=30)


def test_slow_burn_doubling_over_twelve_hours_pages_once_before_it_peaks() -> None:
    points = synthetic_base(7, 20.0, seed=6)
    at, ramp = 5 * 24 * PER_HOUR, 12 * PER_HOUR
    factor = [1.0 + 2.0 * min(1.0, max(0, i - at) / ramp) for i in range(len(points))]
    factor = [f if i < at + ramp + 6 * PER_HOUR else 1.0 for i, f in enumerate(factor)]
    alerts = _run(CountDetector(preset(bin_seconds=BIN)), _lift(points, factor))
    assert len(alerts) == 1
    assert points[at][0] <= alerts[0].ts <= points[at + ramp][0]


def test_lasting_level_shift_pages_at_most_once_then_becomes_normal() -> None:
    points = synthetic_base(10, 20.0, seed=7)
    at = 3 * 24 * PER_HOUR
    factor = [2.5 if i >= at else 1.0 for i in range(len(points))]
    det = CountDetector(preset(bin_seconds=BIN))
    alerts = _run(det, _lift(points, factor))
    assert len(alerts) <= 1
    assert det.expected_count(60) == pytest.approx(2.5 * 20 * PER_HOUR, rel=0.5)


def test_state_round_trip_gives_identical_decisions() -> None:
    points = synthetic_base(4, 5.0, seed=8)
    at = 3 * 24 * PER_HOUR
    burst = [(ts, v * 6 if at <= i < at + 12 else v) for i, (ts, v) in enumerate(points)]
    whole = CountDetector(preset(bin_seconds=BIN))
    first = _run(whole, burst)
    half = CountDetector(preset(bin_seconds=BIN))
    _run(half, burst[: at - 5])
    restored = CountDetector.from_dict(json.loads(json.dumps(half.to_dict())))
    assert [a.ts for a in _run(restored, burst[at - 5 :])] == [a.ts for a in first]
    assert len(first) == 1


def test_state_of_another_model_restores_fresh_and_replayed_bins_are_no_ops() -> None:
    det = CountDetector.from_dict({"config": {}, "short": {}}, preset(bin_seconds=BIN))
    assert det.level is None and det.n == 0
    points = synthetic_base(1, 5.0, seed=9)
    _run(det, points)
    n = det.n
    _run(det, points[-10:])
    assert det.n == n


def test_one_episode_pages_once_across_both_paths_of_the_spike_detector() -> None:
    points = synthetic_base(8, 20.0, seed=10)
    at = 7 * 24 * PER_HOUR
    factor = [8.0 if at <= i < at + 4 * PER_HOUR else 1.0 for i in range(len(points))]
    alerts = _run(SpikeDetector(spike_preset(bin_seconds=BIN)), _lift(points, factor))
    assert len(alerts) == 1
    assert points[at][0] <= alerts[0].ts <= points[at][0] + timedelta(minutes=15)


def test_a_window_is_judged_by_the_day_shape_from_before_it() -> None:
    """With a shape delay, a plateau does not raise its own hour's cell while it is judged."""
    points = synthetic_base(8 / 24, 3.0, seed=11, bin_seconds=60)
    start = points[-1][0]
    plateau = [(start + timedelta(minutes=i + 1), 40.0) for i in range(24)]
    hour = plateau[0][0].hour
    cells = {}
    for delay in (0.0, 60.0):
        det = CountDetector(replace(preset(bin_seconds=60), shape_delay_minutes=delay))
        _run(det, points)
        before = det.shape.at(hour)
        _run(det, plateau)
        cells[delay] = (before, det.shape.at(hour))
        if delay:
            # An hour on, the plateau's bins have entered the shape, and none is left waiting.
            later = plateau[-1][0] + timedelta(minutes=61)
            det.update(later, 3.0)
            assert det.shape.at(hour) > before
            assert [e for e, *_ in det.shape.pending] == [later.timestamp()]
    assert cells[0.0][1] > 1.2 * cells[0.0][0]  # learned at once: the rise explains itself
    # Delayed: the cell moves only as earlier hours' bins enter (the shape keeps mean 1).
    assert cells[60.0][1] == pytest.approx(cells[60.0][0], rel=0.01)


@pytest.mark.parametrize("hour", [2, 5, 12, 16])
def test_shape_delay_lets_a_young_brand_with_an_ordinary_day_be_caught_at_any_hour(
    hour: int,
) -> None:
    """Eight hours of day-shaped history, then 24 minutes at 4.3x: sensitive with a shape
    delay pages (learning the shape at once, it misses hours 2 and 12 of these four)."""
    start = datetime(2024, 1, 2, hour, tzinfo=UTC) - timedelta(hours=8)
    det = CountDetector(replace(preset("sensitive", bin_seconds=60), shape_delay_minutes=60))
    rng = random.Random(hour)
    alerts = []
    for i in range(8 * 60 + 24):
        ts = start + timedelta(minutes=i + 1)
        hour_of_bin = (ts - timedelta(seconds=30)).hour
        rate = (13.0 if i >= 8 * 60 else 3.0) * POPULATION_DAY_SHAPE[hour_of_bin]
        if (alert := det.update(ts, float(_poisson(rng, rate)))) is not None:
            alerts.append(alert)
    assert len(alerts) == 1
    assert alerts[0].ts > start + timedelta(hours=8)
