"""Young-series level model (gamma-Poisson) on crafted count sequences of a brand's first day."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from services.alerting.detect.counts import CountDetector, preset
from services.alerting.detect.engine import EngineConfig
from services.alerting.detect.season import POPULATION_DAY_SHAPE, surprise
from services.alerting.detect.young import (
    Verdict,
    YoungConfig,
    YoungLevel,
    predictive_dispersion,
)
from tools.eval.scenarios import Points, synthetic_base

BIN = 300
PER_HOUR = 3600 // BIN
ON = YoungConfig(enabled=True)


def _verdicts(model: YoungLevel, points: Points) -> list[Verdict | None]:
    return [model.update(v, POPULATION_DAY_SHAPE[ts.hour], []) for ts, v in points]


def _jump(points: Points, mean: float, at_hours: float, hours: float, factor: float) -> Points:
    """Add (factor - 1) x the expected count of each bin from `at_hours` for `hours`."""
    a, b = round(at_hours * PER_HOUR), round((at_hours + hours) * PER_HOUR)
    return [
        (ts, v + round((factor - 1) * mean * POPULATION_DAY_SHAPE[ts.hour]) if a <= i < b else v)
        for i, (ts, v) in enumerate(points)
    ]


def test_predictive_is_the_conjugate_one_widened_by_the_population_spread() -> None:
    assert predictive_dispersion(4.0, 0.0) == pytest.approx(0.25)
    assert predictive_dispersion(4.0, 0.1) == pytest.approx(0.25 + 0.1 * 1.25)
    # The same 30 where ~10 is expected: less surprising on 3 mentions of history than on 3000.
    assert surprise(30, 10.0, predictive_dispersion(3.5, 0.1)) < surprise(
        30, 10.0, predictive_dispersion(3000.5, 0.1)
    )


@pytest.mark.parametrize(("mean", "factor"), [(2.0, 8.0), (20.0, 5.0), (0.5, 10.0)])
def test_a_jump_on_the_first_day_fires(mean: float, factor: float) -> None:
    points = _jump(synthetic_base(1, mean, seed=7), mean, at_hours=8, hours=1, factor=factor)
    verdicts = _verdicts(YoungLevel(ON, BIN), points)
    hot = [i for i, v in enumerate(verdicts) if v is not None and v.hot]
    assert hot, "a 5-10x jump 8 hours into a new series must be in the predictive's far tail"
    assert 8 * PER_HOUR <= hot[0] < 9 * PER_HOUR


@pytest.mark.parametrize(("mean", "seed"), [(0.3, 1), (2.0, 2), (20.0, 3), (60.0, 4)])
def test_an_ordinary_first_day_does_not_fire(mean: float, seed: int) -> None:
    verdicts = _verdicts(YoungLevel(ON, BIN), synthetic_base(2, mean, seed=seed))
    assert not any(v is not None and v.hot for v in verdicts)
    # The model judges from its first hour on.
    assert verdicts[PER_HOUR + 6] is not None


def test_off_by_default_and_silent_once_the_series_is_a_week_old() -> None:
    points = synthetic_base(1, 5.0, seed=5)
    assert all(v is None for v in _verdicts(YoungLevel(bin_seconds=BIN), points))
    model = YoungLevel(replace(ON, young_days=0.5), BIN)
    verdicts = _verdicts(model, points)
    assert verdicts[PER_HOUR * 6] is not None and verdicts[PER_HOUR * 13] is None
    # Grown up, it keeps only its age: the state of a mature series stays small.
    assert not model.window and model.n == len(points)


def test_count_path_pages_a_day_one_jump_once_with_the_young_model() -> None:
    points = _jump(synthetic_base(1, 1.0, seed=11), 1.0, at_hours=5, hours=1, factor=6.0)
    det = CountDetector(replace(preset(bin_seconds=BIN), young=ON))
    fired = [i for i, (ts, v) in enumerate(points) if det.update(ts, v) is not None]
    assert len(fired) == 1
    assert 5 * PER_HOUR <= fired[0] < 6 * PER_HOUR
    # The count horizons alone, widened for youth, let this small brand's first crisis pass.
    plain = CountDetector(preset(bin_seconds=BIN))
    assert all(plain.update(ts, v) is None for ts, v in points)


def test_state_round_trip_decides_identically() -> None:
    points = _jump(synthetic_base(1, 3.0, seed=13), 3.0, at_hours=12, hours=1, factor=6.0)
    cfg = replace(preset(bin_seconds=BIN), young=ON)
    whole = CountDetector(cfg)
    first = [whole.update(ts, v) for ts, v in points]
    half = CountDetector(cfg)
    for ts, v in points[:100]:
        half.update(ts, v)
    restored = CountDetector.from_dict(json.loads(json.dumps(half.to_dict())))
    assert restored.config.young == ON
    assert restored.young.to_dict() == half.young.to_dict()
    assert [restored.update(ts, v) for ts, v in points[100:]] == first[100:]
    # State saved before the young model existed restores with a fresh one.
    legacy = half.to_dict()
    legacy.pop("young")
    legacy["config"].pop("young")
    assert CountDetector.from_dict(legacy).young.n == 0


def test_engine_setting_switches_the_model_on() -> None:
    assert not EngineConfig().spike_config().counts.young.enabled
    assert EngineConfig(young_model=True).spike_config("strict").counts.young.enabled
