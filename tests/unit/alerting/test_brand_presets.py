"""Per-brand presets in the detection engine: a brand's stored preset changes what fires."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.alerting.detect.bins import BRAND_TOPIC
from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.spikes import preset
from shared.schemas import ScoredMention
from tests.unit.alerting.test_engine import T0, calm, mention, run


def plateau(per_minute: int, minutes: int, rng: random.Random) -> list[ScoredMention]:
    """A volume rise with the usual share of negatives (no sentiment or emotion surge)."""
    return [
        mention(
            T0 + timedelta(hours=8, minutes=k, seconds=rng.uniform(0, 59)),
            negative=rng.random() < 0.15,
            author=f"c{rng.randrange(10**6)}",
        )
        for k in range(minutes)
        for _ in range(per_minute)
    ]


def _spikes(switch_to: str | None) -> list[str]:
    """Volume-spike rules fired on a mild plateau after 8 calm hours, switching preset between."""
    rng = random.Random(1)
    engine = DetectionEngine(EngineConfig(preset="balanced"))
    assert run(engine, calm(8, rng)).signals == []
    if switch_to is not None:
        assert engine.set_presets({"acme": switch_to}) == ["acme"]
    out = run(engine, plateau(14, 30, rng))
    return [s.rule for s in out.signals]


def test_a_sensitive_brand_pages_on_a_rise_the_default_preset_ignores() -> None:
    assert _spikes(None) == []
    assert "volume_spike" in _spikes("sensitive")
    assert _spikes("strict") == []


def test_switching_keeps_the_learned_baseline_and_applies_the_new_thresholds() -> None:
    rng = random.Random(3)
    engine = DetectionEngine(EngineConfig())
    run(engine, calm(3, rng))
    rows_before = engine.export("acme")
    spike = engine._brands["acme"].series[BRAND_TOPIC].spike
    learned = spike.short.history_hours
    assert learned > 2

    assert engine.set_presets({"acme": "strict", "other": "sensitive"}) == ["acme", "other"]
    switched = engine._brands["acme"].series[BRAND_TOPIC].spike
    assert switched.config == preset("strict")
    assert switched.short.history_hours == learned
    assert engine.preset_of("other") == "sensitive" and not engine.knows("other")
    # A brand first seen after the change starts with its own preset.
    first = mention(T0 + timedelta(hours=3), negative=False, author="x")
    first = first.model_copy(
        update={"mention": first.mention.model_copy(update={"brands": ["other"]})}
    )
    engine.observe(first, wall_now=0)
    assert engine._brands["other"].series[BRAND_TOPIC].spike.config == preset("sensitive")
    assert engine.set_presets({"acme": "strict", "other": "sensitive"}) == []
    # Back to the default; a restored brand takes the preset in force, not the stored one.
    assert engine.set_presets({}) == ["acme", "other"]
    restored = DetectionEngine(EngineConfig())
    restored.set_presets({"acme": "sensitive"})
    restored.load("acme", rows_before, wall_now=0)
    assert restored._brands["acme"].series[BRAND_TOPIC].spike.config == preset("sensitive")


def test_an_unknown_preset_changes_nothing() -> None:
    engine = DetectionEngine(EngineConfig())
    engine.set_presets({"acme": "strict"})
    with pytest.raises(ValueError, match="unknown preset"):
        engine.set_presets({"acme": "sensitive", "b": "paranoid"})
    assert engine.preset_of("acme") == "strict" and engine.preset_of("b") == "balanced"
