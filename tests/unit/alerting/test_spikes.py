"""Volume-spike detector on synthetic series."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerting.detect._debounce import Debounce
from services.alerting.detect.alert import to_epoch
from services.alerting.detect.daily import DailyConfig, DayOverDay
from services.alerting.detect.spikes import SpikeConfig, SpikeDetector, preset, rolling_count
from tests.unit.alerting.conftest import START, series


def _run(det: SpikeDetector, points: list) -> list:
    return [a for ts, v in points if (a := det.update(ts, v)) is not None]


def _with_spike(points: list, at: int, length: int, factor: float) -> list:
    return [(ts, v * factor if at <= i < at + length else v) for i, (ts, v) in enumerate(points)]


def test_steady_noise_does_not_alert(steady: list) -> None:
    assert _run(SpikeDetector(preset("balanced")), steady) == []


def test_injected_spike_alerts_once_within_persistence(steady: list) -> None:
    at = 2 * 1440 + 600
    alerts = _run(SpikeDetector(preset("balanced")), _with_spike(steady, at, 60, 6.0))
    assert len(alerts) == 1
    assert steady[at][0] <= alerts[0].ts <= steady[at + 10][0]
    assert alerts[0].rule == "volume_spike" and alerts[0].score > 0


def test_second_spike_inside_cooldown_is_silent(steady: list) -> None:
    at = 2 * 1440 + 600
    points = _with_spike(_with_spike(steady, at, 20, 6.0), at + 120, 20, 6.0)
    assert len(_run(SpikeDetector(preset("balanced")), points)) == 1


def test_tiny_brand_under_floor_does_not_alert() -> None:
    points = series(3 * 1440, 0.05, seed=3)
    points[2 * 1440 + 600] = (points[2 * 1440 + 600][0], 3.0)
    assert _run(SpikeDetector(preset("sensitive")), points) == []


def test_campaign_lift_suppresses_planned_burst(steady: list) -> None:
    at = 2 * 1440 + 600
    points = _with_spike(steady, at, 60, 4.0)
    det = SpikeDetector(preset("balanced"))
    alerts = [
        a
        for i, (ts, v) in enumerate(points)
        if (a := det.update(ts, v, expected_lift=4.0 if at <= i < at + 60 else 1.0))
    ]
    assert alerts == []


def test_json_round_trip_gives_identical_decisions(steady: list) -> None:
    points = _with_spike(steady, 2 * 1440 + 600, 60, 6.0)
    cut = 2 * 1440
    det = SpikeDetector(preset("balanced"))
    _run(det, points[:cut])
    restored = SpikeDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    assert _run(restored, points[cut:]) == _run(det, points[cut:])


def test_no_look_ahead(steady: list) -> None:
    points = _with_spike(steady, 2 * 1440 + 600, 60, 6.0)
    prefix = _run(SpikeDetector(preset("balanced")), points[: 2 * 1440 + 700])
    full = _run(SpikeDetector(preset("balanced")), points)
    assert prefix and full[: len(prefix)] == prefix


def test_replayed_bin_is_a_no_op(steady: list) -> None:
    det = SpikeDetector(preset("balanced"))
    _run(det, steady[:100])
    before = det.to_dict()
    assert det.update(steady[50][0], 1000.0) is None
    assert det.to_dict() == before


def test_five_minute_bins_use_same_thresholds() -> None:
    points = series(4 * 288, 100.0, step_s=300)
    at = 3 * 288 + 100
    points = _with_spike(points, at, 2, 8.0)
    alerts = _run(SpikeDetector(preset("balanced", bin_seconds=300)), points)
    assert len(alerts) == 1 and alerts[0].ts - points[at][0] <= timedelta(minutes=10)


def test_rolling_count_scales_partial_windows_and_can_leave_out_the_peak() -> None:
    assert rolling_count([], 12) == 0.0
    assert rolling_count([1.0, 2.0, 3.0], 6) == 12.0
    assert rolling_count([5.0, 1.0, 2.0, 3.0], 3) == 6.0
    assert rolling_count([1.0, 9.0, 2.0], 3, trim_peak=True) == 4.5
    assert rolling_count([7.0], 4, trim_peak=True) == 28.0


def _z_path(cfg: SpikeConfig) -> SpikeConfig:
    """The config with the count and sustained paths silenced, to test the z-score scales alone."""
    never = 1e9
    return replace(
        cfg,
        counts=replace(cfg.counts, threshold=never),
        sustained=replace(cfg.sustained, threshold=never),
    )


def _long_scale_only(bin_seconds: int) -> SpikeDetector:
    never = 1e9
    cfg = _z_path(preset("balanced", bin_seconds=bin_seconds))
    return SpikeDetector(replace(cfg, z_sustain=never, z_burst=never, z_mid=never, z_shift=never))


def test_one_tall_bin_does_not_pass_for_a_sustained_rise() -> None:
    points = series(4 * 288, 100.0, step_s=300)
    at = 3 * 288 + 100
    assert _run(_long_scale_only(300), _with_spike(points, at, 1, 20.0)) == []


def test_long_scale_still_pages_a_sustained_rise() -> None:
    points = series(4 * 288, 100.0, step_s=300)
    at = 3 * 288 + 100
    alerts = _run(_long_scale_only(300), _with_spike(points, at, 24, 3.0))
    assert len(alerts) == 1 and alerts[0].details["hot"] == ["long"]
    assert alerts[0].ts - points[at][0] <= timedelta(minutes=90)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), max_size=400))
def test_never_raises_on_arbitrary_series(values: list[float]) -> None:
    det = SpikeDetector(preset("sensitive"))
    for i, v in enumerate(values):
        det.update(START + timedelta(minutes=i), v, expected_lift=1.0 + (i % 3))
    json.dumps(det.to_dict())


def test_state_saved_before_mid_and_shift_scales_restores(steady: list) -> None:
    det = SpikeDetector(preset("balanced"))
    _run(det, steady[:2000])
    legacy = det.to_dict()
    for key in ("mid", "shift", "pending", "streaks"):
        legacy.pop(key)
    legacy["day_peak"] = legacy["day_peak"][::2]
    legacy["peaks"] = [p[::2] for p in legacy["peaks"]]
    restored = SpikeDetector.from_dict(json.loads(json.dumps(legacy)))
    assert all(len(p) == 4 for p in restored.peaks)
    _run(restored, steady[2000:])
    json.dumps(restored.to_dict())


def test_gradual_ramp_to_a_sustained_plateau_alerts() -> None:
    points = series(10 * 288, 40.0, seed=5, step_s=300)
    at, ramp, hold = 8 * 288 + 150, 36, 96
    lifted = []
    for i, (ts, v) in enumerate(points):
        k = i - at
        lift = 1.0 + 3.0 * min(1.0, k / ramp) if 0 <= k < ramp + hold else 1.0
        lifted.append((ts, v * lift))
    alerts = _run(SpikeDetector(preset("balanced", bin_seconds=300)), lifted)
    assert len(alerts) == 1 and points[at][0] <= alerts[0].ts <= points[at + ramp + hold][0]


def test_slow_level_shift_alerts_on_the_shift_scale() -> None:
    points = series(10 * 288, 40.0, seed=7, step_s=300)
    at, ramp, hold = 8 * 288 + 100, 10 * 12, 12 * 12
    lifted = []
    for i, (ts, v) in enumerate(points):
        k = i - at
        lift = 1.0 + 2.0 * min(1.0, k / ramp) if 0 <= k < ramp + hold else 1.0
        lifted.append((ts, v * lift))
    # Without the day-over-day rule, which would page this rise earlier on its own.
    cfg = replace(_z_path(preset("balanced", bin_seconds=300)), z_day=float("inf"))
    alerts = _run(SpikeDetector(cfg), lifted)
    assert len(alerts) == 1 and "shift" in alerts[0].details["hot"]
    assert points[at][0] <= alerts[0].ts <= points[at + ramp + hold][0]


def test_state_with_another_shift_window_restores_with_a_fresh_shift_baseline(
    steady: list,
) -> None:
    det = SpikeDetector(preset("balanced"))
    _run(det, steady[:2000])
    saved = json.loads(json.dumps(det.to_dict()))
    saved["config"].pop("shift_window_minutes")  # saved when the shift scale used 60 minutes
    restored = SpikeDetector.from_dict(saved, config=preset("balanced"))
    assert restored.shift.n == 0 and not restored.pending
    assert restored.short.to_dict() == det.short.to_dict()
    same = SpikeDetector.from_dict(det.to_dict(), config=preset("balanced"))
    assert same.shift.to_dict() == det.shift.to_dict()


def test_rearm_needs_calm_to_last() -> None:
    deb = Debounce()
    kw = {"k": 1, "cooldown_s": 0.0, "max_gap_s": 90.0, "calm_k": 3}

    def step(t: int, hot: bool, calm: bool) -> bool:
        return deb.step(60.0 * t, hot=hot, burst=False, calm=calm, **kw)

    assert step(0, True, False)
    # Two calm bins then hot again: still the same episode, no second page.
    assert [step(t, False, True) for t in (1, 2)] == [False, False]
    assert not step(3, True, False)
    assert [step(t, False, True) for t in (4, 5, 6)] == [False, False, False]
    assert step(7, True, False)


def _day_z(points: list, det: DayOverDay | None = None) -> list[float]:
    det = det or DayOverDay()
    return [det.update(to_epoch(ts), v) for ts, v in points]


def _lift(points: list, start: int, stop: int, factor: float) -> list:
    return [(ts, v * factor if start <= i < stop else v) for i, (ts, v) in enumerate(points)]


def test_day_over_day_waits_for_a_week_then_flags_only_a_busier_day() -> None:
    days = 9
    points = series(days * 288, 40.0, seed=11, step_s=300)
    zs = _day_z(points)
    warm = (7 * 288) + 144  # seven compared days plus one window
    assert all(z == 0.0 for z in zs[:warm])
    assert max(abs(z) for z in zs[warm:]) < 3.0
    busy = _day_z(_lift(points, (days - 1) * 288, days * 288, 1.6))
    assert max(busy[(days - 1) * 288 + 144 :]) > 3.0


def test_day_over_day_state_round_trips() -> None:
    points = _lift(series(9 * 288, 40.0, seed=12, step_s=300), 8 * 288, 9 * 288, 1.5)
    det = DayOverDay(DailyConfig(window_hours=6.0))
    _day_z(points[:2000], det)
    restored = DayOverDay.from_dict(json.loads(json.dumps(det.to_dict())))
    assert _day_z(points[2000:], restored) == _day_z(points[2000:], det)


def _confirmed_only(**overrides: float) -> SpikeDetector:
    never = 1e9
    cfg = preset("balanced", bin_seconds=300)
    cfg = replace(cfg, z_burst=never, z_mid=never, z_long=never, z_shift=never)
    # The day-over-day confirmation alone: the sustained watch (which may rightly page a
    # 12-hour 1.5x lift of a calm series) is silenced too.
    cfg = replace(cfg, sustained=replace(cfg.sustained, threshold=never))
    return SpikeDetector(replace(cfg, **overrides))


def test_one_modest_burst_pages_only_on_a_day_already_busier_than_usual() -> None:
    days, at = 10, 10 * 288 - 20
    quiet = series(days * 288, 40.0, seed=13, step_s=300)
    busy = _lift(quiet, at - 144, at + 1, 1.5)

    def burst(points: list) -> list:
        return [(ts, 2.5 * v if i == at else v) for i, (ts, v) in enumerate(points)]

    assert _run(_confirmed_only(), burst(quiet)) == []
    assert _run(_confirmed_only(z_day=float("inf")), burst(busy)) == []
    assert _run(_confirmed_only(), busy) == []
    alerts = _run(_confirmed_only(), burst(busy))
    assert len(alerts) == 1 and alerts[0].ts == quiet[at][0]
    assert alerts[0].details["confirmed"] and alerts[0].details["z_day"] >= 3.0


def test_state_saved_before_the_day_over_day_rule_restores(steady: list) -> None:
    det = SpikeDetector(preset("balanced"))
    _run(det, steady[:2000])
    legacy = json.loads(json.dumps(det.to_dict()))
    legacy.pop("daily")
    restored = SpikeDetector.from_dict(legacy)
    assert restored.daily.slots == {} and restored.daily.z == 0.0
    same = SpikeDetector.from_dict(det.to_dict())
    assert same.daily.to_dict() == det.daily.to_dict()
