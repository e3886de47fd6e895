"""Competitor crisis watch: watched competitors reach detection as SEV4 competitor signals."""

from __future__ import annotations

import random
from datetime import timedelta

from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.thresholds import ThresholdRule
from services.alerting.records import watched_only
from shared.schemas import ScoredMention
from tests.unit.alerting.test_engine import T0, mention, run


def about(scored: ScoredMention, brands: list[str], **fields: list[str]) -> ScoredMention:
    m = scored.mention.model_copy(update={"brands": brands, **fields})
    return scored.model_copy(update={"mention": m})


def test_watched_only_keeps_brands_and_watched_competitors() -> None:
    base = mention(T0, negative=True, author="a")
    both = about(base, ["acme", "globex", "hooli"], competitors=["globex", "hooli"])
    assert watched_only(both).mention.brands == ["acme"]  # type: ignore[union-attr]
    watched = about(
        base, ["acme", "globex", "hooli"], competitors=["globex", "hooli"],
        watched_competitors=["hooli"],
    )  # fmt: skip
    assert watched_only(watched).mention.brands == ["acme", "hooli"]  # type: ignore[union-attr]
    rival_only = about(base, ["globex"], competitors=["globex"])
    assert watched_only(rival_only) is None
    watched_rival = about(base, ["hooli"], competitors=["hooli"], watched_competitors=["hooli"])
    assert watched_only(watched_rival) is not None


def test_a_watched_competitor_fires_at_sev4_in_the_competitor_category() -> None:
    rng = random.Random(5)
    engine = DetectionEngine(EngineConfig())
    engine.rules.replace(
        [
            ThresholdRule(
                rule_id=1, name="negatives", brand="*", metric="negative", window_minutes=5,
                threshold=8, comparison=">=", min_volume=0, topic="", platform=None,
                language=None, severity="SEV1",
            )
        ]
    )  # fmt: skip
    items = []
    for i in range(24):
        at = T0 + timedelta(seconds=10 * i)
        m = mention(at, negative=True, author=f"u{rng.randrange(10**6)}")
        if i % 2:
            m = about(m, ["hooli"], competitors=["hooli"], watched_competitors=["hooli"])
        items.append(m)
    items.append(mention(T0 + timedelta(minutes=20), negative=False, author="late"))
    items.append(
        about(
            mention(T0 + timedelta(minutes=20), negative=False, author="late2"),
            ["hooli"], competitors=["hooli"], watched_competitors=["hooli"],
        )
    )  # fmt: skip
    out = run(engine, items)
    ours = [s for s in out.signals if s.brand == "acme" and s.rule == "rule:negatives"]
    theirs = [s for s in out.signals if s.brand == "hooli" and s.rule == "rule:negatives"]
    assert ours and theirs
    assert {s.severity.level for s in ours} == {"SEV1"} and not ours[0].competitor
    assert {s.severity.level for s in theirs} == {"SEV4"}
    assert {s.category for s in theirs} == {"competitor"}
    assert any(r.startswith("competitor hooli") for r in theirs[0].severity.reasons)


def test_a_competitor_no_longer_watched_or_now_ours_leaves_the_competitor_set() -> None:
    engine = DetectionEngine(EngineConfig())
    rival = about(
        mention(T0, negative=True, author="a"), ["hooli"], competitors=["hooli"],
        watched_competitors=["hooli"],
    )  # fmt: skip
    engine.observe(rival, wall_now=0)
    assert engine.competitors == {"hooli"}
    ours = about(mention(T0 + timedelta(seconds=1), negative=True, author="b"), ["hooli"])
    engine.observe(ours, wall_now=0)  # hooli got a watchlist of its own
    assert engine.competitors == set()
