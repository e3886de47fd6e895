"""Share, velocity, keyword and author-gate rules, and severity ordering."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerting.detect.authors import author_gate
from services.alerting.detect.keywords import critical_mention
from services.alerting.detect.ratios import (
    ShareSurgeDetector,
    emotion_burst_detector,
    negative_share_detector,
)
from services.alerting.detect.velocity import VelocityDetector, weighted_engagement
from services.alerting.incidents.severity import assess_severity
from tests.unit.alerting.conftest import START

DAY = 1440


def _shares(n: int, share: float, total: int, seed: int = 0) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(sum(rng.random() < share for _ in range(total)), total) for _ in range(n)]


def _run_share(det: ShareSurgeDetector, bins: list[tuple[int, int]]) -> list:
    ts = [START + timedelta(minutes=i) for i in range(len(bins))]
    return [a for t, (p, n) in zip(ts, bins, strict=True) if (a := det.update(t, p, n))]


def test_negative_share_steady_is_silent_and_surge_fires_once() -> None:
    bins = _shares(DAY, 0.15, 20)
    assert _run_share(negative_share_detector(), bins) == []
    surged = bins[:800] + _shares(120, 0.6, 20, seed=1) + bins[920:]
    alerts = _run_share(negative_share_detector(), surged)
    assert len(alerts) == 1 and alerts[0].rule == "negative_share"
    assert START + timedelta(minutes=800) <= alerts[0].ts <= START + timedelta(minutes=815)


def test_emotion_burst_needs_enough_posts() -> None:
    bins = _shares(DAY, 0.02, 3) + [(2, 3)] * 3  # 6 angry posts: under the floor of 8
    assert _run_share(emotion_burst_detector(), bins) == []


def test_share_state_round_trip() -> None:
    bins = _shares(DAY, 0.15, 20)[:800] + _shares(120, 0.6, 20, seed=1)
    det = negative_share_detector()
    _run_share(det, bins[:700])
    clone = ShareSurgeDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    rest = bins[700:]
    ts = [START + timedelta(minutes=700 + i) for i in range(len(rest))]
    assert [det.update(t, p, n) for t, (p, n) in zip(ts, rest, strict=True)] == [
        clone.update(t, p, n) for t, (p, n) in zip(ts, rest, strict=True)
    ]


def test_velocity_accelerating_spread_fires() -> None:
    rng = random.Random(2)
    values = [float(rng.randint(0, 10)) for _ in range(DAY)]
    values += [20.0 * 1.3**i for i in range(20)]
    det = VelocityDetector()
    alerts = [a for i, v in enumerate(values) if (a := det.update(START + timedelta(minutes=i), v))]
    assert len(alerts) == 1 and alerts[0].ts >= START + timedelta(minutes=DAY)
    clone = VelocityDetector.from_dict(json.loads(json.dumps(det.to_dict())))
    assert clone.to_dict() == det.to_dict()


def test_high_reach_weighs_more() -> None:
    assert weighted_engagement(10, 5, 2_000_000) > weighted_engagement(10, 5, 200) == 15


def test_critical_keyword_fires_on_credible_mention_only() -> None:
    fired = critical_mention(ts=START, topics=["recall"], author_reach=50_000, engagement=0)
    assert fired is not None and fired.details["topics"] == ["recall"]
    assert critical_mention(ts=START, topics=["recall"], author_reach=10, engagement=3) is None
    assert critical_mention(ts=START, topics=["pricing"], author_reach=10**7, engagement=0) is None


def test_author_gate_blocks_single_account_flood() -> None:
    assert not author_gate(volume=500, distinct_authors=1).passed
    assert not author_gate(volume=500, distinct_authors=30).passed
    assert not author_gate(volume=100, distinct_authors=60, top_author_share=0.7).passed
    assert author_gate(volume=100, distinct_authors=80, top_author_share=0.05).passed


def test_safety_outranks_delivery() -> None:
    safety = assess_severity(magnitude=6.0, reach=200_000, negative_share=0.5, topics=["safety"])
    delivery = assess_severity(
        magnitude=6.0, reach=200_000, negative_share=0.5, topics=["delivery"]
    )
    assert safety.points > delivery.points and safety.level <= delivery.level
    assert safety.reasons and any("safety" in r for r in safety.reasons)


def test_severity_scope_and_extremes() -> None:
    worst = assess_severity(
        magnitude=20,
        reach=5_000_000,
        velocity_ratio=8,
        negative_share=0.8,
        topics=["safety"],
        markets=["us", "fr", "de"],
        languages=["en"],
        platforms=["x", "reddit"],
    )
    assert worst.level == "SEV1" and worst.scope.markets == ("de", "fr", "us")
    assert assess_severity(magnitude=1.1).level == "SEV4"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False)),
        max_size=300,
    )
)
def test_share_and_velocity_never_raise(pairs: list[tuple[float, float]]) -> None:
    share, velocity = negative_share_detector(), VelocityDetector()
    for i, (a, b) in enumerate(pairs):
        ts = START + timedelta(minutes=i)
        share.update(ts, a, b)
        velocity.update(ts, a)
    json.dumps(share.to_dict())
    json.dumps(velocity.to_dict())
