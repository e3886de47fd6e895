"""The brand's background story: ordinary brand talk does not swallow a specific story."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from services.sentiment.core.story_background import BackgroundRule, background_slot, typical
from services.sentiment.core.story_state import BrandState

DIM = 16


def _vector(*parts: tuple[int, float]) -> np.ndarray:
    """The brand's direction (axis 0) and `parts` (axis, weight), unit length."""
    v = np.zeros(DIM, dtype=np.float32)
    v[0] = 1.0
    for axis, weight in parts:
        v[axis] = weight
    return v / np.linalg.norm(v)


def _state() -> tuple[BrandState, np.ndarray]:
    """A brand with a story that is its mean (slot 0) and one that is not (slot 1)."""
    state = BrandState(DIM, budget=8, max_keys=16, recent=16)
    state.mean[:] = _vector() * 0.7
    state.seen = 300
    state.unit[0] = _vector()
    state.unit[1] = _vector((1, 2.0))
    state.size[:2] = 20
    open_ = np.zeros(len(state.ids), dtype=bool)
    open_[:2] = True
    return state, open_


def test_the_story_that_is_the_brand_mean_is_its_background() -> None:
    state, open_ = _state()
    rule = BackgroundRule(likeness=0.98, least=8, history=256, spread=1.0)
    assert background_slot(state, open_, rule) == 0
    assert background_slot(state, open_, replace(rule, history=301)) is None
    assert background_slot(state, open_, replace(rule, least=21)) is None
    assert background_slot(state, open_, replace(rule, likeness=0.0)) is None
    open_[0] = False
    assert background_slot(state, open_, rule) is None


def test_a_mention_is_typical_when_it_fits_like_the_members_do() -> None:
    state, _ = _state()
    for similarity in (0.5, 0.6, 0.7) * 10:
        state.learn_fit(0, similarity)
    rule = BackgroundRule(likeness=0.98, least=8, history=256, spread=1.0)
    assert float(state.fit_mean[0]) == pytest.approx(0.6, abs=0.03)
    assert typical(state, 0, 0.55, rule) and typical(state, 0, 0.9, rule)
    assert not typical(state, 0, 0.45, rule)
    state.reset(0, "new", 0.0)
    assert state.fit_n[0] == 0 and state.fit_mean[0] == 0
