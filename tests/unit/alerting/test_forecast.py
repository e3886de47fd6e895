"""The projection of a volume series: growth, decay, peaked, small counts, intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerting.detect.alert import Alert
from services.alerting.detect.counts import CountConfig, CountDetector
from services.alerting.detect.forecast import (
    ForecastConfig,
    Inputs,
    Projection,
    inputs_of,
    project,
    with_projection,
)
from services.alerting.incidents.severity import assess_severity

AT = datetime(2026, 12, 4, 12, tzinfo=UTC)
BIN = 300  # 5-minute bins: 12 an hour


def _recent(counts: list[float], expected: float) -> list[tuple[float, float]]:
    return [(c, expected) for c in counts]


def test_growth_is_rising_with_positive_rate() -> None:
    recent = _recent([5.0] * 12 + [15.0] * 12, 5.0)
    p = project(AT, recent, [60.0] * 24, bin_seconds=BIN)
    assert p.trend == "rising"
    assert p.growth_per_hour == pytest.approx(2.0, rel=0.01)  # 3x over one hour
    assert p.last_hour == 180.0
    assert "rising 198%/h" in p.line()
    # The excess (120 an hour) carries through the next hour on the season's 60.
    assert p.outlook(1).expected == pytest.approx(180.0)


def test_a_crisis_decays_back_toward_its_baseline() -> None:
    recent = _recent([50.0] * 24, 5.0)  # 10x the season for two hours, flat
    p = project(AT, recent, [60.0] * 24, bin_seconds=BIN)
    one, six, day = (p.outlook(h).expected for h in (1, 6, 24))
    assert one == pytest.approx(600.0)  # the excess carries through the first hour
    assert 6 * 60.0 < six < 6 * 600.0
    assert 24 * 60.0 < day < 24 * 60.0 + 540.0 / (1 - 0.6) + 1  # then decays by 0.6 an hour
    assert p.trend == "peaking" and p.peak_in_hours == 0
    assert "peaking now" in p.line()


def test_falling_series_is_declining() -> None:
    recent = _recent([40.0] * 12 + [20.0] * 12, 5.0)
    p = project(AT, recent, [60.0] * 24, bin_seconds=BIN)
    assert p.trend == "declining"
    assert p.growth_per_hour < -0.4
    assert p.outlook(1).expected == pytest.approx(240.0)
    assert p.outlook(24).expected < 24 * 240.0


def test_calm_series_is_steady_and_follows_the_season() -> None:
    recent = _recent([5.0] * 24, 5.0)
    ahead = [60.0] * 6 + [120.0] * 18
    p = project(AT, recent, ahead, bin_seconds=BIN)
    assert p.trend == "steady" and p.peak_in_hours is None
    assert p.pace_ratio() == 1.0  # a busier season ahead is no story growth
    assert p.outlook(1).expected == pytest.approx(60.0, abs=0.5)
    assert p.outlook(24).expected == pytest.approx(6 * 60 + 18 * 120, rel=0.01)


def test_small_counts_have_exact_integer_intervals() -> None:
    recent = _recent([0.0] * 22 + [1.0, 2.0], 0.05)
    p = project(
        AT, recent, [0.6] * 24, bin_seconds=BIN, config=ForecastConfig(spreads=(0.0, 0.0, 0.0))
    )
    for o in p.outlooks:
        assert isinstance(o.low, int) and isinstance(o.high, int)
        assert 0 <= o.low <= o.expected <= o.high
    # Pace: the median of 5.4 (30 min), 2.4 (60), 0.9 (120) and 11.4 (sustained) an hour
    # is 3.9; Poisson around 0.6 + 3.9 = 4.5: P(X <= 1) = 0.06, P(X <= 2) = 0.17,
    # P(X <= 6) = 0.83, P(X <= 7) = 0.91
    assert p.outlook(1).expected == pytest.approx(4.5)
    assert (p.outlook(1).low, p.outlook(1).high) == (2, 7)


def test_intervals_widen_with_the_horizon_and_the_dispersion() -> None:
    recent = _recent([20.0] * 24, 10.0)
    narrow = project(AT, recent, [120.0] * 24, bin_seconds=BIN, dispersion=0.0)
    wide = project(AT, recent, [120.0] * 24, bin_seconds=BIN, dispersion=0.5)
    for p in (narrow, wide):
        widths = [o.high - o.low for o in p.outlooks]
        assert widths == sorted(widths)
    assert (
        wide.outlook(6).high - wide.outlook(6).low > narrow.outlook(6).high - narrow.outlook(6).low
    )


def test_projection_is_deterministic_and_round_trips() -> None:
    recent = _recent([3.0, 9.0, 4.0] * 8, 4.0)
    a = project(AT, recent, [50.0] * 24, bin_seconds=BIN, dispersion=0.1)
    b = project(AT, recent, [50.0] * 24, bin_seconds=BIN, dispersion=0.1)
    assert a == b
    assert Projection.from_dict(a.to_dict()) == a
    assert a.to_dict()["line"] == a.line()


def test_a_fresh_sustained_rise_carries_its_new_pace_and_a_blip_does_not() -> None:
    # 30 minutes at 30 a bin where 5 is usual: the pace (median of 300, 150, 75 and 300
    # an hour) outruns the last hour's excess of 150, so the next hour is projected above
    # the last one, with its peak still ahead.
    rise = project(AT, _recent([5.0] * 18 + [30.0] * 6, 5.0), [60.0] * 24, bin_seconds=BIN)
    assert rise.last_hour == 210.0
    assert rise.outlook(1).expected == pytest.approx(60.0 + 225.0)
    assert rise.peak_in_hours == 1 and "peak in ~1 h" in rise.line()
    # One 5-minute bin of 305: the same last-hour excess of 300, but the sustained rate is
    # 0, so the pace (median of 600, 300, 150 and 0) is below the last hour's.
    blip = project(AT, _recent([5.0] * 23 + [305.0], 5.0), [60.0] * 24, bin_seconds=BIN)
    assert blip.last_hour == 360.0
    assert blip.outlook(1).expected == pytest.approx(60.0 + 225.0)
    assert blip.outlook(1).expected < blip.last_hour
    assert blip.peak_in_hours == 0


def test_a_series_below_its_expectation_keeps_its_shortfall_as_a_share() -> None:
    # A tenth of a broken expectation: the season ahead is cut by 90%, then recovers by
    # `decay` an hour, never below zero (an additive shortfall would project -6000).
    recent = _recent([100.0] * 24, 1000.0)
    p = project(AT, recent, [20_000.0] * 24, bin_seconds=BIN)
    assert p.outlook(1).expected == pytest.approx(2_000.0)
    assert p.outlook(6).expected == pytest.approx(
        20_000.0 * sum(1 - 0.9 * 0.5**k for k in range(6))
    )
    assert p.pace_ratio() == 1.0  # climbing back toward the season is no story growth
    assert p.trend == "steady" and p.peak_in_hours is None


def test_a_busier_time_of_day_ahead_is_not_story_growth() -> None:
    # The hours ahead are 10x busier by season: the raw volume is projected to grow far
    # past 3x the last hour, but not past the usual volume of those hours.
    rise = project(AT, _recent([5.0] * 18 + [30.0] * 6, 5.0), [600.0] * 24, bin_seconds=BIN)
    assert rise.outlook(6).expected > 3 * 6 * rise.last_hour
    # 6 h at the last hour's expected 60 plus the pace of 225 decaying by half an hour.
    story = 6 * 60.0 + 225.0 * sum(0.5**k for k in range(6))
    assert rise.pace_ratio() == pytest.approx(story / (6 * 210.0), abs=1e-4)
    assert Projection.from_dict(rise.to_dict()).pace_ratio() == rise.pace_ratio()
    assert rise.usual_multiple is not None and rise.usual_multiple < 1.2
    assert Projection.from_dict(rise.to_dict()).usual_multiple == rise.usual_multiple
    level = assess_severity(magnitude=5.0, projected_multiple=rise.usual_multiple).level
    assert level == "SEV4"


def test_a_story_projected_to_keep_three_times_usual_is_more_severe_than_one_that_peaked() -> None:
    from services.alerting.detect.assess import assess

    # Ten times the usual 5 a bin for two hours: the pace, decaying by half an hour, keeps
    # (6 x 60 + 540 x 1.97) / 360 = 3.96x the usual volume over the next 6 hours.
    running = project(AT, _recent([50.0] * 24, 5.0), [60.0] * 24, bin_seconds=BIN)
    # The same story an hour after it fell back to 8 a bin.
    peaked = project(AT, _recent([50.0] * 12 + [8.0] * 12, 5.0), [60.0] * 24, bin_seconds=BIN)

    def level(p: Projection) -> tuple[str, list[str]]:
        alert = Alert(
            AT, "volume_spike", 9.0, 360.0, 60.0, {"ratio": 5.0, "projection": p.to_dict()}
        )
        signal = assess(
            brand="acme",
            topic="",
            story="",
            alert=alert,
            window=[],
            brand_window=[],
            tipping=None,
            mention=None,
        )
        return signal.severity.level, signal.severity.reasons

    assert running.usual_multiple == pytest.approx(3.96, abs=0.01)
    assert peaked.usual_multiple is not None and peaked.usual_multiple < 1.5
    assert level(peaked)[0] == "SEV4"
    up, reasons = level(running)
    assert up == "SEV3"
    assert "projected to run at 4.0x its usual volume over the next 6 h" in reasons
    # A projection stored before the multiple was kept takes no step.
    legacy = {k: v for k, v in running.to_dict().items() if k != "usual_multiple"}
    assert Projection.from_dict(legacy).usual_multiple is None
    assert assess_severity(magnitude=5.0, projected_multiple=None).level == "SEV4"


def test_projection_of_a_count_detector_after_a_spike() -> None:
    det = CountDetector(CountConfig(bin_seconds=BIN))
    start = AT - timedelta(days=2)
    for i in range(2 * 288):
        det.update(start + timedelta(seconds=BIN * (i + 1)), 10.0)
    end = start + timedelta(seconds=BIN * 2 * 288)
    for i in range(12):
        det.update(end + timedelta(seconds=BIN * (i + 1)), 60.0)
    at = end + timedelta(seconds=BIN * 12)
    inputs = inputs_of(det, at)
    assert inputs is not None and len(inputs.ahead) == 24
    alert = with_projection(Alert(ts=at, rule="volume_spike", score=9, value=60, baseline=10), det)
    data = alert.details["projection"]
    assert data["last_hour"] == 720.0
    assert data["trend"] in ("rising", "peaking")
    assert inputs_of(CountDetector(), at) is None


def test_projected_tripling_raises_severity_one_level_with_a_reason() -> None:
    base = assess_severity(magnitude=5.0)
    up = assess_severity(magnitude=5.0, projected_multiple=3.4)
    peaked = assess_severity(magnitude=5.0, projected_multiple=0.6)
    assert (base.level, up.level, peaked.level) == ("SEV4", "SEV3", "SEV4")
    assert any("projected to run at 3.4x" in r for r in up.reasons)
    top = assess_severity(
        magnitude=20.0,
        reach=2_000_000,
        velocity_ratio=6.0,
        negative_share=0.9,
        projected_multiple=5.0,
    )
    assert top.level == "SEV1"


def test_leave_one_out_chooses_without_the_held_out_fold() -> None:
    """Each fold's choice is made on the others: a fold alone cannot pull it."""
    from tools.eval.forecast import Capture, leave_one_out

    def cap(excess: float, actual_1h: float) -> Capture:
        recent = tuple(_recent([5.0 + excess / 12] * 24, 5.0))
        inputs = Inputs(AT, recent, (60.0,) * 24, BIN, 0.0)
        actual = {1: actual_1h, 6: 60.0 * 5 + actual_1h, 24: 60.0 * 23 + actual_1h}
        last = 60.0 + excess
        return Capture(inputs, actual, {h: last * h for h in (1, 6, 24)})

    decaying = [cap(120.0, 150.0) for _ in range(4)]
    rows = leave_one_out({"a": decaying, "b": decaying, "c": decaying})
    assert [r["held_out"] for r in rows[:3]] == ["a", "b", "c"]
    assert all(r["24h"]["ratio"] < 1.0 for r in rows)
    assert rows[-1]["alerts"] == 12
    # Every alert decays, so the projection is nearer than "stays the same" on each, and
    # none is projected to triple.
    assert all(r["24h"]["closer"] == r["24h"]["n"] for r in rows)
    assert rows[-1]["tripling"] == {"projected": 0, "came": 0, "came_in_all": 0}


def test_open_stories_get_a_fresh_projection_every_quarter_hour() -> None:
    from dataclasses import dataclass

    from services.alerting.detect.refresh import refreshes
    from services.alerting.detect.spikes import SpikeDetector, preset

    @dataclass
    class Watched:
        spike: SpikeDetector

    det = SpikeDetector(preset("balanced", bin_seconds=60))
    start = AT - timedelta(hours=3)
    for i in range(180):
        det.update(start + timedelta(minutes=i + 1), 5.0)
    series = {"": Watched(det)}
    stories = {("acme", "recall"), ("other", "")}
    on = refreshes(stories, "acme", series, AT)
    assert [(r.brand, r.topic, r.at) for r in on] == [("acme", "recall", AT)]
    assert on[0].projection["at"] == AT.isoformat()  # the brand series stands in for the topic
    assert refreshes(stories, "acme", series, AT + timedelta(minutes=1)) == []
    assert refreshes(set(), "acme", series, AT) == []
