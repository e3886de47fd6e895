"""The brand's background story: ordinary brand talk does not swallow a specific story."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from services.sentiment.core.stories import Assignment, StoryClusterer, StoryMention, StoryParams
from services.sentiment.core.story_background import (
    BackgroundRule,
    background_slot,
    beyond_brand,
    typical,
)
from services.sentiment.core.story_state import BrandState

DIM = 16
HOUR = 3600.0
RULE = BackgroundRule(
    likeness=0.95, least=8, age_s=12 * HOUR, spread=1.0, entity_min=2, entity_share=0.1,
    common=0.2,
)  # fmt: skip


def _vector(*parts: tuple[int, float], noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """The brand's direction (axis 0), `parts` (axis, weight) and some talk (axes 4+)."""
    v = np.zeros(DIM, dtype=np.float32)
    v[0] = 1.0
    for axis, weight in parts:
        v[axis] = weight
    rng = np.random.default_rng(seed)
    v[4:] += noise * rng.standard_normal(DIM - 4).astype(np.float32) / np.sqrt(DIM - 4)
    return v / np.linalg.norm(v)


def _state() -> tuple[BrandState, np.ndarray]:
    """A brand of 300 mentions, a day old: a story that is its mean (slot 0) and one that
    is not (slot 1)."""
    state = BrandState(DIM, budget=8, max_keys=16, recent=16)
    state.mean[:] = _vector() * 0.7
    state.seen = 300
    state.unit[0] = _vector()
    state.unit[1] = _vector((1, 2.0))
    state.size[:2] = 20
    state.born[:2] = 0.0
    open_ = np.zeros(len(state.ids), dtype=bool)
    open_[:2] = True
    state.ids[:2] = ["chatter", "fire"]
    return state, open_


def test_the_story_that_is_the_brand_mean_and_names_nothing_is_its_background() -> None:
    state, open_ = _state()
    assert background_slot(state, open_, RULE, now=24 * HOUR) == 0
    assert state.background == (0, "chatter")


@pytest.mark.parametrize(
    "change",
    [
        "young",
        "small",
        "off",
        "closed",
        "names its own",
        "brand names something",
    ],
)
def test_no_background_when_the_story_is_not_the_brand_ordinary_talk(change: str) -> None:
    state, open_ = _state()
    rule, now = RULE, 24 * HOUR
    if change == "young":
        now = 6 * HOUR  # ordinary talk lasts; a crisis is new
    elif change == "small":
        rule = replace(RULE, least=21)
    elif change == "off":
        rule = replace(RULE, likeness=0.0)
    elif change == "closed":
        open_[0] = False
    elif change == "names its own":
        state.top[0] = 5  # a place in a quarter of its mentions: an event
    else:
        state.mentions_of["#terremoto"] = 150  # what the brand's mentions share is an event
    assert background_slot(state, open_, rule, now) is None


def test_the_background_stays_while_open_even_when_another_story_comes_to_dominate() -> None:
    state, open_ = _state()
    assert background_slot(state, open_, RULE, now=24 * HOUR) == 0
    state.unit[0], state.unit[1] = _vector((1, 2.0)), _vector()  # the crisis is the mean now
    assert background_slot(state, open_, RULE, now=25 * HOUR) == 0
    open_[0] = False
    assert background_slot(state, open_, RULE, now=26 * HOUR) == 1


def test_a_mention_is_typical_when_it_fits_like_the_members_do() -> None:
    state, _ = _state()
    for similarity in (0.5, 0.6, 0.7) * 10:
        state.learn_fit(0, similarity)
    assert float(state.fit_mean[0]) == pytest.approx(0.6, abs=0.03)
    assert typical(state, 0, 0.55, RULE) and typical(state, 0, 0.9, RULE)
    assert not typical(state, 0, 0.45, RULE)
    state.reset(0, "new", 0.0)
    assert state.fit_n[0] == 0 and state.fit_mean[0] == 0


def test_a_story_takes_a_mention_only_for_what_they_share_beyond_the_brand() -> None:
    state, _ = _state()
    assert beyond_brand(state, 1, _vector((1, 1.0)), 0.2)
    assert not beyond_brand(state, 1, _vector((2, 2.0)), 0.2)
    assert not beyond_brand(state, 0, _vector((1, 1.0)), 0.2)  # the brand's mean: nothing


def _stream() -> list[tuple[str, StoryMention]]:
    """Two days of brand chatter, then a fire (axis 1) and an advert (axis 2), with chatter
    going on."""
    items = [("chatter", 1_000.0 + 1_800 * i, _vector(noise=0.6, seed=i)) for i in range(96)]
    start = items[-1][1]
    for i in range(6):
        at = start + 600 * (i + 1)
        items.append(("fire", at, _vector((1, 1.0), noise=0.3, seed=100 + i)))
        items.append(("ad", at + 100, _vector((2, 1.0), noise=0.3, seed=200 + i)))
        items.append(("chatter", at + 200, _vector(noise=0.6, seed=300 + i)))
    return [
        (kind, StoryMention(key=f"x:{i}", brand="acme", at=at, vector=v))
        for i, (kind, at, v) in enumerate(items)
    ]


def _run(params: StoryParams) -> list[tuple[str, Assignment]]:
    clusterer = StoryClusterer(params, dim=DIM)
    return [(kind, clusterer.assign(m)) for kind, m in _stream()]


def _stories(found: list[tuple[str, Assignment]], kind: str) -> set[str]:
    return {a.story_id for k, a in found if k == kind}


def test_brand_chatter_does_not_swallow_a_fire_or_an_advert() -> None:
    found = _run(StoryParams(background_likeness=0.95))
    fire, ad = _stories(found, "fire"), _stories(found, "ad")
    assert len(fire) == 1 and len(ad) == 1 and fire != ad
    chatter = [a for k, a in found if k == "chatter"]
    assert sum(a.background for a in chatter) >= len(chatter) // 3
    assert len({a.story_id for a in chatter if a.background}) == 1
    assert not any(a.background for k, a in found if k != "chatter")
    assert not (fire | ad) & _stories(found, "chatter")
    # Without a background, the chatter's story takes the fire and the advert.
    found = _run(StoryParams(background_likeness=0.0))
    assert _stories(found, "fire") & _stories(found, "chatter")
