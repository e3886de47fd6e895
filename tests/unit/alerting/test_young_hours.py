"""The young-brand hour harness drives the real engine: a plateau pages, a mild rise does not."""

from __future__ import annotations

from tools.eval.young_hours import pages_in_plateau

DELAY = {"shape_delay_minutes": 60.0}


def test_a_fourfold_plateau_pages_and_a_mild_one_does_not() -> None:
    common = {"shaped": True, "base": 3.0}
    assert pages_in_plateau("sensitive", 16, 1016, high=13.0, counts=DELAY, **common)
    assert not pages_in_plateau("sensitive", 16, 1016, high=5.0, counts=DELAY, **common)


def test_count_settings_reach_the_engine() -> None:
    """Hour 17, seed 1017: missed with the shipped settings, caught with a shape delay."""
    common = {"shaped": True, "base": 3.0, "high": 13.0}
    assert not pages_in_plateau("balanced", 17, 1017, counts={}, **common)
    assert pages_in_plateau("balanced", 17, 1017, counts=DELAY, **common)
