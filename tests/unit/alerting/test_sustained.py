"""Sustained-rise detector on crafted count sequences: slow burns page, ordinary weeks do not."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from services.alerting.detect.alert import Alert
from services.alerting.detect.spikes import SpikeDetector
from services.alerting.detect.spikes import preset as spike_preset
from services.alerting.detect.sustained import (
    RULE,
    SustainedConfig,
    SustainedDetector,
    nb_llr,
    preset,
)
from tools.eval.scenarios import Points, synthetic_base

BIN = 300
PER_HOUR = 3600 // BIN


def _run(det: SustainedDetector | SpikeDetector, points: Points) -> list[Alert]:
    return [a for ts, v in points if (a := det.update(ts, v)) is not None]


def _ramp(points: Points, at: int, hours: float, factor: float, *, hold: float = 1e9) -> Points:
    """Multiply counts from `at` by a factor rising linearly to `factor` over `hours`."""
    ramp, keep = hours * PER_HOUR, hold * PER_HOUR
    out = []
    for i, (ts, v) in enumerate(points):
        k = i - at
        f = 1.0 if k < 0 or k >= ramp + keep else 1.0 + (factor - 1.0) * min(1.0, k / ramp)
        out.append((ts, float(round(v * f))))
    return out


def test_llr_is_poisson_without_dispersion_and_favours_the_rise_for_large_counts() -> None:
    assert nb_llr(10, 5.0, 0.0, 2.0) == pytest.approx(10 * math.log(2) - 5)
    assert nb_llr(10, 5.0, 1e-7, 2.0) == pytest.approx(nb_llr(10, 5.0, 0.0, 2.0), rel=1e-3)
    assert nb_llr(20, 10.0, 0.05, 2.0) > 0 > nb_llr(10, 10.0, 0.05, 2.0)
    # Over-dispersion makes the same doubling weaker evidence.
    assert nb_llr(20, 10.0, 0.2, 2.0) < nb_llr(20, 10.0, 0.0, 2.0)


@pytest.mark.parametrize(("seed", "mean"), [(1, 20.0), (2, 3.0), (3, 0.5), (4, 60.0)])
def test_a_flat_seasonal_week_does_not_page(seed: int, mean: float) -> None:
    points = synthetic_base(7, mean, seed=seed)
    assert _run(SustainedDetector(preset(bin_seconds=BIN)), points) == []


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_complaints_doubling_over_twelve_hours_page_within_hours(seed: int) -> None:
    points = synthetic_base(5, 3.0, seed=seed)
    at = 3 * 24 * PER_HOUR + 7 * PER_HOUR
    burned = _ramp(points, at, 12, 2.0, hold=6)
    # No sharp spike: no 5-minute count as high as ten times the usual mean.
    assert max(v for _, v in burned[at : at + 18 * PER_HOUR]) < 10 * 3.0
    alerts = _run(SustainedDetector(preset(bin_seconds=BIN)), burned)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.rule == RULE
    # Paged within 6 hours of the complaints having doubled (the bar is 12 + log 3 nats,
    # chosen leave-one-series-out: two hours more than one 2x arm at 10 nats).
    assert points[at][0] <= alert.ts <= points[at + 18 * PER_HOUR][0]
    assert alert.details["run_ratio"] > 1.2 and alert.details["hours"] >= 3


def test_a_doubling_on_a_brand_watched_for_a_week_pages_whatever_hour_it_starts() -> None:
    """The day's own rise (x3 from night to afternoon) is no burn, and a burn is no less
    one for starting at dawn: whatever its start hour, a 12-hour doubling pages once, by
    the hour after it has doubled."""
    points = synthetic_base(9, 15.0, seed=21)
    late = []
    for hour in range(24):
        at = 7 * 24 * PER_HOUR + hour * PER_HOUR
        alerts = _run(SustainedDetector(preset(bin_seconds=BIN)), _ramp(points, at, 12, 2.0))
        if len(alerts) != 1 or not points[at][0] <= alerts[0].ts <= points[at + 13 * PER_HOUR][0]:
            late.append(hour)
    assert late == [], f"no single page by the doubling for start hours {late}"


def test_a_lasting_level_shift_pages_at_most_once() -> None:
    points = synthetic_base(9, 3.0, seed=8)
    at = 3 * 24 * PER_HOUR
    shifted = [(ts, v * 2.5 if i >= at else v) for i, (ts, v) in enumerate(points)]
    alerts = _run(SustainedDetector(preset(bin_seconds=BIN)), shifted)
    assert len(alerts) == 1
    assert points[at][0] <= alerts[0].ts <= points[at + 12 * PER_HOUR][0]


def test_a_burst_of_one_hour_is_no_trend() -> None:
    points = synthetic_base(5, 3.0, seed=9)
    at = 3 * 24 * PER_HOUR
    burst = [(ts, v * 6 if at <= i < at + PER_HOUR else v) for i, (ts, v) in enumerate(points)]
    assert _run(SustainedDetector(preset(bin_seconds=BIN)), burst) == []


def test_state_restores_mid_stream_and_stays_bounded() -> None:
    points = _ramp(synthetic_base(5, 3.0, seed=5), 3 * 24 * PER_HOUR + 7 * PER_HOUR, 12, 2.0)
    cut = 3 * 24 * PER_HOUR + 9 * PER_HOUR
    whole = SustainedDetector(preset(bin_seconds=BIN))
    expected = _run(whole, points)
    first = SustainedDetector(preset(bin_seconds=BIN))
    _run(first, points[:cut])
    state = json.loads(json.dumps(first.to_dict()))
    assert len(state["pending"]) <= 24 and len(json.dumps(state)) < 4000
    restored = SustainedDetector.from_dict(state)
    assert [a.ts for a in _run(restored, points[cut:])] == [a.ts for a in expected]
    assert SustainedDetector.from_dict({"model": "other"}).level is None


def test_spike_detector_pages_a_slow_burn_of_negatives_once() -> None:
    """Total volume stays flat while negative mentions double: the negatives watch pages."""
    points = synthetic_base(5, 20.0, seed=10)
    negatives = _ramp(synthetic_base(5, 3.0, seed=11), 3 * 24 * PER_HOUR, 12, 2.2)
    det = SpikeDetector(spike_preset(bin_seconds=BIN))
    alerts: list[tuple[datetime, Alert]] = []
    for (ts, v), (_, neg) in zip(points, negatives, strict=True):
        alert = det.update(ts, v + neg, negatives=neg)
        if alert is not None:
            alerts.append((ts, alert))
    slow = [a for _, a in alerts if a.rule == RULE]
    assert len(slow) == 1 and slow[0].details["measure"] == "negatives"
    assert slow[0].ts >= points[3 * 24 * PER_HOUR][0]


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_a_one_and_a_half_fold_shift_pages_once_through_the_small_arm(seed: int) -> None:
    """A 1.5x shift is caught hours sooner by the 1.5x arm than a 2x CUSUM alone."""
    points = synthetic_base(9, 20.0, seed=seed)
    at = 3 * 24 * PER_HOUR
    shifted = [(ts, float(round(v * 1.5)) if i >= at else v) for i, (ts, v) in enumerate(points)]
    arms = _run(SustainedDetector(preset(bin_seconds=BIN)), shifted)
    assert len(arms) == 1 and arms[0].details["design_ratio"] == 1.5
    assert points[at][0] <= arms[0].ts <= points[at + 15 * PER_HOUR][0]
    single = replace(preset(bin_seconds=BIN), ratios=(2.0,))
    alone = _run(SustainedDetector(single), shifted)
    assert len(alone) == 1 and alone[0].ts > arms[0].ts


def test_more_arms_raise_the_bar_by_their_log() -> None:
    """Arms are looked at together: with k arms a CUSUM must pass threshold + log k."""
    cfg = replace(preset(bin_seconds=BIN), ratios=(2.0, 2.0, 2.0))
    points = _ramp(synthetic_base(5, 20.0, seed=5), 3 * 24 * PER_HOUR, 12, 2.0, hold=12)
    one = _run(SustainedDetector(replace(cfg, ratios=(2.0,))), points)
    three = _run(SustainedDetector(cfg), points)
    assert len(one) == len(three) == 1
    assert one[0].score >= cfg.threshold and three[0].score >= cfg.threshold + math.log(3)
    assert three[0].ts >= one[0].ts


def test_state_of_the_single_arm_model_restores_fresh() -> None:
    """State saved before the arms (model sustained-1) starts afresh instead of failing."""
    det = SustainedDetector(preset(bin_seconds=BIN))
    _run(det, synthetic_base(3, 3.0, seed=12))
    old = json.loads(json.dumps(det.to_dict()))
    old["model"] = "sustained-1"
    assert SustainedDetector.from_dict(old).seen == 0
    restored = SustainedDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    assert restored.seen == det.seen and restored.cusums == det.cusums


def test_a_centred_reference_learns_the_median_below_an_overdispersed_mean() -> None:
    """With `centered`, the median hourly log residual is learned: below 0 for skewed hours."""
    rng = random.Random(13)
    base = synthetic_base(7, 20.0, seed=13)
    lifts = [math.exp(rng.gauss(0.0, 0.6)) for _ in range(7 * 24)]
    skewed = [(ts, float(round(v * lifts[i // PER_HOUR]))) for i, (ts, v) in enumerate(base)]
    cfg = replace(preset(bin_seconds=BIN), centered=True)
    det = SustainedDetector(cfg)
    _run(det, skewed)
    assert det.center < -0.05
    plain = SustainedDetector(preset(bin_seconds=BIN))
    _run(plain, skewed)
    assert plain.center == 0.0
    assert _run(SustainedDetector(cfg), synthetic_base(7, 20.0, seed=14)) == []


def _changes() -> SustainedConfig:
    """The balanced preset with spreads learned from residual changes (exact warm-up)."""
    return replace(preset(bin_seconds=BIN), change_spreads=True)


def _flat_day(days: float, mean: float, *, seed: int) -> Points:
    """A calm Poisson series with no daily rhythm (a brand unlike the population prior)."""
    rng = np.random.default_rng(seed)
    start = synthetic_base(1 / 24, mean, seed=seed)[0][0]
    return [
        (start + timedelta(seconds=i * BIN), float(rng.poisson(mean)))
        for i in range(round(days * 24 * PER_HOUR))
    ]


def _caught_start_hours(make: Callable[[int], Points], history_hours: int, by_hours: int) -> int:
    """Start hours (of 24) at which a 12-hour doubling after `history_hours` pages by then."""
    caught = 0
    for hour in range(24):
        at = (history_hours + hour) * PER_HOUR
        points = _ramp(make(hour)[: at + 24 * PER_HOUR], at, 12, 2.0)
        alerts = _run(SustainedDetector(_changes()), points)
        after = [a for a in alerts if a.ts >= points[at][0]]
        if after and after[0].ts <= points[at + by_hours * PER_HOUR][0]:
            caught += 1
    return caught


@pytest.mark.parametrize("history_hours", [48, 72])
def test_a_brand_watched_for_two_or_three_days_has_a_doubling_caught_at_most_start_hours(
    history_hours: int,
) -> None:
    """With the day the population has, 2-3 days of history suffice when the spreads are learned
    from residual changes: paged by the hour after the doubling at nearly every start hour."""
    days = history_hours / 24 + 2
    caught = _caught_start_hours(
        lambda h: synthetic_base(days, 15.0, seed=40 + h), history_hours, 13
    )
    assert caught >= 20


@pytest.mark.parametrize("history_hours", [72, 168])
def test_a_flat_day_brand_has_a_doubling_caught_at_most_start_hours(history_hours: int) -> None:
    """A brand with no daily rhythm is judged against the population's day while it learns its
    own, yet its doubling pages within 6 hours of the doubling at most start hours."""
    days = history_hours / 24 + 2
    caught = _caught_start_hours(lambda h: _flat_day(days, 15.0, seed=60 + h), history_hours, 18)
    assert caught >= 20


@pytest.mark.parametrize("days", [3, 7])
def test_the_run_inflation_of_ordinary_poisson_hours_stays_near_one(days: int) -> None:
    """Hours that are independent are worth one look each: after 3 days and after a week the
    learned inflation (run vs hourly spread of residual changes, shrunk to its prior of 2) is
    near 1, not the 3-5 of running medians still climbing from zero."""
    owns, inflations = [], []
    for seed in range(70, 77):
        det = SustainedDetector(_changes())
        _run(det, synthetic_base(days, 15.0, seed=seed, dispersion=0.0))
        owns.append(det.config.run_hours * (det.run_spread / det.spread) ** 2)
        inflations.append(det.inflation())
        assert det.dispersion() < 0.03  # Poisson: next to no extra spread learned
    assert 0.6 < statistics.median(owns) < 1.6
    assert statistics.median(inflations) < (1.8 if days == 3 else 1.5)
    assert max(inflations) < 2.6


def test_state_restores_mid_warm_up_and_older_states_load() -> None:
    """The warm-up residuals round-trip; a state saved before them (no `warm`) still loads."""
    points = _ramp(synthetic_base(4, 15.0, seed=73), 50 * PER_HOUR, 12, 2.0)
    cut = 30 * PER_HOUR
    whole = SustainedDetector(_changes())
    expected = _run(whole, points)
    first = SustainedDetector(_changes())
    _run(first, points[:cut])
    state = json.loads(json.dumps(first.to_dict()))
    assert 0 < len(state["warm"]) < 48 and len(json.dumps(state)) < 4000
    restored = SustainedDetector.from_dict(state)
    assert [a.ts for a in _run(restored, points[cut:])] == [a.ts for a in expected]
    older = json.loads(json.dumps(first.to_dict()))
    del older["warm"]
    del older["config"]["change_spreads"]
    legacy = SustainedDetector.from_dict(older)
    assert legacy.seen == first.seen and legacy.warm == [] and not legacy.config.change_spreads
