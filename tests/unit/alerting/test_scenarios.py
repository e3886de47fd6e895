"""Scenario generators and benchmark: seeded, with the ground truth where it was injected."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from services.alerting.detect.spike_config import preset
from tools.eval.benchmark import (
    FAMILIES,
    NAB,
    NAB_YOUNG,
    alert_times,
    detector_config,
    scenario_table,
)
from tools.eval.scenarios import make_case, score_case, synthetic_base, young_windows


@pytest.mark.parametrize("family", FAMILIES)
def test_cases_are_seeded_and_lift_volume_inside_their_window(family: str) -> None:
    base = synthetic_base(12, 30.0, seed=1)
    case = make_case(family, base, seed=3)
    assert case == make_case(family, base, seed=3)
    assert case != make_case(family, base, seed=4)
    ((start, end),) = case.windows
    assert start == case.onset < end
    inside = [v for ts, v in case.points if start <= ts <= start + timedelta(hours=1)]
    before = [v for ts, v in case.points if start - timedelta(hours=6) <= ts < start]
    if family in ("slow_burn", "other_zone"):  # a burn starts from nothing: look at its end
        inside = [v for ts, v in case.points if end - timedelta(hours=1) <= ts <= end]
    assert sum(inside) / len(inside) > sum(before) / len(before)


def test_young_cases_start_hours_before_their_crisis() -> None:
    case = make_case("young", synthetic_base(12, 30.0, seed=1), seed=5)
    assert timedelta(hours=6) <= case.onset - case.points[0][0] <= timedelta(hours=48)


def test_other_zone_cases_move_the_day_and_their_ignored_windows() -> None:
    base = synthetic_base(12, 30.0, seed=1)
    ignore = [(base[100][0], base[200][0])]
    case = make_case("other_zone", base, seed=7, ignore=ignore)
    move = case.ignore[0][0] - ignore[0][0]
    assert timedelta(hours=6) <= move <= timedelta(hours=12) and move.seconds % 3600 == 0
    assert case.ignore == [(a + move, b + move) for a, b in ignore]
    assert case.points[0][0] - move in {ts for ts, _ in base}
    assert timedelta(days=7) <= case.onset - case.points[0][0] <= timedelta(days=8)


def test_score_case_counts_catches_false_alerts_and_ignored_windows() -> None:
    case = make_case("slow_burn", synthetic_base(12, 30.0, seed=1), seed=6)
    onset = case.onset
    caught, false, delay = score_case(case, [onset - timedelta(days=2), onset + timedelta(hours=1)])
    assert (caught, false, delay) == (True, 1, 60.0)
    assert score_case(case, []) == (False, 0, None)


def test_scenario_table_has_one_row_per_family() -> None:
    base = synthetic_base(10, 30.0, seed=2)
    burst = range(8 * 288, 8 * 288 + 12)  # an hour of +300 per 5 minutes, labelled
    points = [(ts, v + (300.0 if i in burst else 0.0)) for i, (ts, v) in enumerate(base)]
    series = {"calm": (points, [(base[burst.start - 12][0], base[burst.stop + 24][0])])}
    out = io.StringIO()
    rows = scenario_table(series, out)
    assert set(rows) == {NAB, NAB_YOUNG, *FAMILIES}
    assert all(rows[f]["cases"] == 6 for f in FAMILIES)
    assert (rows[NAB]["caught"], rows[NAB]["cases"]) == (1, 1)
    assert (rows[NAB_YOUNG]["caught"], rows[NAB_YOUNG]["cases"]) == (5, 5)  # 1-7 days old
    assert len(out.getvalue().splitlines()) == len(rows)


def test_benchmark_runs_the_preset_it_is_given() -> None:
    for name in ("sensitive", "balanced", "strict"):
        assert detector_config(300, None, preset_name=name) == preset(name, bin_seconds=300)
    assert detector_config(300, None, preset_name="sensitive") != preset("strict", bin_seconds=300)


def test_young_windows_cut_each_labelled_window_at_each_age_with_history_for_it() -> None:
    base = synthetic_base(12, 30.0, seed=1)
    early = (base[6 * 288][0], base[6 * 288 + 100][0])  # 6 days in: no 7-day-old view
    late = (base[10 * 288][0], base[10 * 288 + 50][0])
    cases = young_windows(base, [early, late])
    assert [c.name.rsplit("-", 1)[1] for c in cases] == [
        *("1d", "2d", "3d", "5d"),
        *("1d", "2d", "3d", "5d", "7d"),
    ]
    for case in cases:
        ((start, end),) = case.windows
        age = timedelta(days=float(case.name.rsplit("-", 1)[1][:-1]))
        assert case.onset == start and case.points[0][0] >= start - age
        assert case.points[0][0] - (start - age) < timedelta(minutes=5)
        assert case.points[-1][0] <= end
        assert case.ignore == [late if (start, end) == early else early]


def test_a_crisis_in_a_labelled_window_is_caught_however_young_the_series() -> None:
    base = synthetic_base(9, 30.0, seed=2)
    onset = 8 * 288
    burst = range(onset, onset + 12)  # an hour of +300 per 5 minutes
    points = [(ts, v + (300.0 if i in burst else 0.0)) for i, (ts, v) in enumerate(base)]
    window = (base[onset - 12][0], base[onset + 36][0])
    config = detector_config(300, None)
    scores = [score_case(c, alert_times(c.points, config)) for c in young_windows(points, [window])]
    assert len(scores) == 5  # seen 1, 2, 3, 5 and 7 days old
    assert all(caught and false == 0 for caught, false, _ in scores)
