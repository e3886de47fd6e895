"""The 1-hour alternatives measured against the projection (tools/eval/forecast.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.alerting.detect.forecast import ForecastConfig, Inputs
from tools.eval.forecast import (
    MIX_SHARES,
    Capture,
    carry,
    mix,
    one_hour_alternatives,
    own_error_share,
    resampled_ratio,
    score,
)

AT = datetime(2026, 12, 4, 12, tzinfo=UTC)
BIN = 300  # 5-minute bins: 12 an hour


def _inputs(recent: list[tuple[float, float]], season: float = 60.0) -> Inputs:
    return Inputs(AT, tuple(recent), (season,) * 24, BIN, 0.0)


def test_mix_and_carry_move_between_the_two_forecasts() -> None:
    assert mix(100.0, 50.0, 1.0) == 100.0
    assert mix(100.0, 50.0, 0.0) == 50.0
    assert mix(100.0, 50.0, 0.8) == pytest.approx(90.0)
    assert carry(150.0, 60.0, 1.0) == 150.0  # the model itself
    assert carry(150.0, 60.0, 0.5) == pytest.approx(105.0)  # half the excess kept
    assert carry(150.0, 60.0, 0.0) == 60.0  # the season alone
    assert carry(10.0, 60.0, 2.0) == 0.0  # never below zero


def test_own_errors_favour_the_model_where_a_blip_faded() -> None:
    """One 5-minute blip inside the last two hours: the naive forecast made after it
    carries it into the next half hour, the model's pace does not."""
    blip = [(5.0, 5.0)] * 14 + [(100.0, 5.0)] + [(5.0, 5.0)] * 21
    assert own_error_share(_inputs(blip), ForecastConfig()) > 0.5


def test_own_errors_favour_naive_where_the_season_broke() -> None:
    """The season drops (night) but the mentions stay: the model followed the season at
    the drop, "stays the same" was right."""
    night = [(10.0, 10.0)] * 24 + [(10.0, 2.0)] * 12
    assert own_error_share(_inputs(night, 24.0), ForecastConfig()) < 0.5


def test_own_errors_without_a_past_half_hour_weigh_both_alike() -> None:
    short = [(10.0, 10.0)] * 15  # an hour of history, then too little after it
    assert own_error_share(_inputs(short), ForecastConfig()) == 0.5


def _capture(actual_1h: float) -> Capture:
    """An alert 45 minutes after a 5-minute blip: the model reads it as faded, "stays the
    same" keeps it (155 in the last hour)."""
    inputs = _inputs([(5.0, 5.0)] * 14 + [(100.0, 5.0)] + [(5.0, 5.0)] * 9)
    return Capture(inputs, {1: actual_1h}, {1: 155.0})


def test_alternatives_are_chosen_on_the_other_folds() -> None:
    """Fold `naive` alone is better served by "stays the same"; its held-out choice is made
    on the two folds where the model is right, so it cannot pull it."""
    model_1h = _capture(0.0).inputs.project().outlook(1).expected
    right = [_capture(model_1h + d) for d in (0.0, 1.0)]
    assert model_1h < 100.0
    folds = {"naive": [_capture(155.0), _capture(156.0)], "b": right, "c": right}
    rows = {r["held_out"]: r for r in one_hour_alternatives(folds)}
    assert set(rows) == {"naive", "b", "c"}
    held = rows["naive"]
    assert held["mix"]["chosen"] == 1.0 and held["carry"]["chosen"] == 1.0
    assert held["mix"]["ratio"] == held["model"]
    # The model's ratio is the one `score` reports at 1 hour.
    assert held["model"] == score(folds["naive"], ForecastConfig())["1h"]["ratio"]
    assert all(r["mix"]["chosen"] in MIX_SHARES for r in rows.values())
    # Any weight toward "stays the same" helps where it was right.
    assert held["own_errors"] < held["model"]


def test_resampled_ratio_brackets_the_fold_and_is_seeded() -> None:
    model_1h = _capture(0.0).inputs.project().outlook(1).expected
    mixed = [_capture(model_1h), _capture(155.0), _capture(120.0), _capture(60.0)]
    points = [(model_1h, 155.0, 60.0, 0.5, c.actual[1]) for c in mixed]
    bracket = resampled_ratio(points, draws=200)
    assert bracket is not None
    low, high = bracket
    whole = score(mixed, ForecastConfig())["1h"]["ratio"]
    assert low < whole < high
    assert resampled_ratio(points, draws=200) == [low, high]  # the same seed, the same draws
    assert resampled_ratio([], draws=10) is None


def test_score_says_on_which_side_the_misses_fall() -> None:
    """Mentions far above the interval count as misses above, none below."""
    caps = [_capture(5000.0), _capture(5001.0)]
    one = score(caps, ForecastConfig())["1h"]
    assert one["coverage"] == 0.0 and one["below"] == 0.0
    under = score([_capture(0.0)], ForecastConfig())["1h"]
    assert under["below"] == 1.0
