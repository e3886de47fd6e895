"""User threshold rules on closed bins: windows, filters, one firing per crossing, breakage."""

from __future__ import annotations

from datetime import timedelta

from services.alerting.detect.bins import Bin
from services.alerting.detect.engine import DetectionEngine
from services.alerting.detect.thresholds import Measures, RuleBook, ThresholdRule, metric_value
from tests.unit.alerting.conftest import START

BRAND = "acme"


def _bin(minute: int, *, negatives: int = 0, neutral: int = 0, platform: str = "x") -> Bin:
    b = Bin(brand=BRAND, topic="", start=(START + timedelta(minutes=minute)).timestamp())
    count = negatives + neutral
    b.count, b.negatives, b.scored, b.sentiment_sum = count, negatives, count, -0.8 * negatives
    b.dims = {f"{platform}|en": [count, negatives, count, -0.8 * negatives]}
    for i in range(count):
        b.authors[f"a{minute}-{i}"] += 1
    return b


def _rule(**fields: object) -> ThresholdRule:
    values: dict = {
        "rule_id": 1,
        "name": "neg",
        "brand": "*",
        "metric": "negative",
        "window_minutes": 3,
        "threshold": 10.0,
    }
    values.update(fields)
    return ThresholdRule(**values)


def test_window_sum_fires_once_per_crossing_and_rearms() -> None:
    book = RuleBook([_rule()])
    fired = [
        bool(book.observe(BRAND, [_bin(m, negatives=n)]).fired)
        for m, n in enumerate([4, 4, 4, 4, 0, 0, 0, 0, 6, 6])
    ]
    # 12 within three minutes at minute 2 (fires), stays above (silent), drops, crosses again.
    assert fired == [False, False, True, False, False, False, False, False, False, True]


def test_filters_brand_platform_and_comparison() -> None:
    book = RuleBook(
        [
            _rule(name="other-brand", brand="globex"),
            _rule(name="reddit-only", platform="reddit"),
            _rule(
                name="mood",
                metric="mean_score",
                comparison="<=",
                threshold=-0.5,
                min_volume=5,
                window_minutes=1,
            ),
        ]
    )
    step = book.observe(BRAND, [_bin(0, negatives=12)])
    assert [f.rule.name for f in step.fired] == ["mood"]
    assert step.fired[0].alert.rule == "rule:mood"
    assert book.observe(BRAND, [_bin(1, negatives=12, platform="reddit")]).fired[0].rule.name == (
        "reddit-only"
    )


def test_a_rule_that_fails_is_reported_and_dropped() -> None:
    book = RuleBook([_rule(name="bad", metric="nope"), _rule()])
    step = book.observe(BRAND, [_bin(0, negatives=12)])
    assert [name for name, _ in step.broken] == ["bad"]
    assert [f.rule.name for f in step.fired] == ["neg"]
    assert set(book.rules) == {"neg"}


def test_metric_value_is_undefined_over_nothing() -> None:
    assert metric_value("negative_ratio", Measures()) is None
    assert metric_value("mean_score", Measures(volume=2)) is None
    assert metric_value("negative_ratio", Measures(volume=4, negative=1)) == 0.25


def test_engine_turns_a_rule_firing_into_a_signal_at_the_rule_severity() -> None:
    engine = DetectionEngine()
    engine.rules.replace([_rule(severity="SEV1")])
    step = engine.process_group([_bin(0, negatives=12)])
    signals = [s for s in step.signals if s.rule == "rule:neg"]
    assert len(signals) == 1
    assert signals[0].severity.level == "SEV1"
    assert signals[0].severity.reasons[0].startswith("rule neg: negative 12")


def test_a_falling_count_rule_waits_for_a_whole_window_and_is_not_gated() -> None:
    engine = DetectionEngine()
    engine.rules.replace([_rule(name="quiet", metric="volume", comparison="<=", threshold=2)])
    fired = [
        [s.rule for s in engine.process_group([_bin(m, neutral=n)]).signals]
        for m, n in enumerate([0, 0, 0, 5, 5, 5])
    ]
    # Silent until three minutes are in the window; no authors needed to report silence.
    assert fired == [[], [], ["rule:quiet"], [], [], []]


def test_rule_windows_survive_a_restart_unless_the_rule_changed() -> None:
    engine = DetectionEngine()
    engine.rules.replace([_rule()])
    for minute in range(2):
        assert not engine.process_group([_bin(minute, negatives=4)]).signals
    saved = engine.export(BRAND)

    restarted = DetectionEngine()
    restarted.rules.replace([_rule()])
    restarted.load(BRAND, saved, wall_now=0.0)
    fired = restarted.process_group([_bin(2, negatives=4)]).signals
    assert [s.rule for s in fired] == ["rule:neg"]  # 12 over three minutes, two restored

    changed = DetectionEngine()
    changed.rules.replace([_rule(threshold=11.0)])
    changed.load(BRAND, saved, wall_now=0.0)
    assert not changed.process_group([_bin(2, negatives=4)]).signals  # a fresh window: 4
