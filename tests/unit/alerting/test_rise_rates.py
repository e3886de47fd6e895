"""Ordinary-week rise rates: how often a series rises xR on its own, outside its labels."""

from __future__ import annotations

from datetime import timedelta

from tools.eval.rise_rates import rise_rates
from tools.eval.scenarios import Points, Window, synthetic_base


def _with_bursts(
    days: float, hours: list[float], factor: float = 5.0
) -> tuple[Points, list[Window]]:
    base = synthetic_base(days, 30.0, seed=7)
    start = base[0][0]
    spans = [(start + timedelta(hours=h), start + timedelta(hours=h + 1)) for h in hours]
    points = [(ts, v * factor if any(a <= ts < b for a, b in spans) else v) for ts, v in base]
    return points, spans


def test_calm_series_has_no_threefold_hours() -> None:
    rates = rise_rates(synthetic_base(14, 30.0, seed=7), [])
    assert rates["x3@60m"] == 0.0
    assert rates["x3@30m"] == 0.0


def test_counts_each_burst_once_per_episode() -> None:
    # Four one-hour x5 bursts in the 11 days after the 3 skipped ones.
    points, _ = _with_bursts(14, [100.0, 150.0, 200.0, 250.0])
    rates = rise_rates(points, [])
    weeks = 11 / 7
    assert abs(rates["x3@60m"] - 4 / weeks) < 0.01
    assert rates["x4@30m"] >= rates["x4@60m"] > 0


def test_bursts_inside_labelled_windows_and_the_first_days_do_not_count() -> None:
    points, spans = _with_bursts(14, [20.0, 100.0, 150.0])
    labelled = [(a - timedelta(hours=1), b + timedelta(hours=1)) for a, b in spans[1:]]
    assert rise_rates(points, labelled)["x3@60m"] == 0.0
