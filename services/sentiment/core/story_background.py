"""The brand's background story: what its ordinary mentions look like.

Every mention of a brand names it, so a brand's everyday talk (product questions, shop
hours, praise, adverts) gathers into one loose story whose centroid is the brand's mean
vector itself: it says nothing beyond the brand. Left to compete by similarity like any
story, it takes everything that names the brand, a battery fire included.

So a brand's background is the open story that has been talked about for `age_s` (ordinary
talk lasts; a crisis is new), has `least` members, whose centroid is within `likeness` of
the brand's mean, and that names nothing of its own often (no salient entity: an event
names its places, a brand's chatter only the brand). The first such story stays the
background while it is open (a later story that comes to dominate the brand, a crisis, is
never taken for it) and never merges. It does not compete by similarity: a mention joins it
when it fits it as well as its members usually do (its similarity at least their mean less
`spread` standard deviations) and is no closer to any other story; a mention that fits
neither a story nor the background opens a story of its own. Decided from the past only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from services.sentiment.core.story_state import BrandState


@dataclass(frozen=True)
class BackgroundRule:
    """When a story is the brand's background, and when a mention is typical of it."""

    likeness: float  # cosine of its centroid with the brand's mean (0: no background)
    least: int  # members before a story can be the background
    age_s: float  # seconds it has been open before it can be
    spread: float  # standard deviations below its members' mean fit that still fit
    entity_min: int  # a story names an entity saliently in at least this many mentions
    entity_share: float  # ... and this share of them
    common: float  # a name in this share of the brand's mentions is common to them


def background_slot(
    state: BrandState, open_: np.ndarray, rule: BackgroundRule, now: float
) -> int | None:
    """The slot of the brand's background story (designated now if it has none), or None."""
    if not rule.likeness:
        return None
    slot = state.live_slot(state.background) if state.background else None
    if slot is not None and open_[slot]:
        return slot
    state.background = None
    norm = float(np.linalg.norm(state.mean))
    if norm <= 1e-6 or not open_.any():
        return None
    likeness = state.unit @ (state.mean / norm)
    named = state.top >= np.maximum(rule.entity_min, rule.entity_share * state.size)
    young = state.born > now - rule.age_s
    likeness[~open_ | (state.size < rule.least) | young | named] = -np.inf
    slot = int(np.argmax(likeness))
    if likeness[slot] < rule.likeness or _names_something(state, rule):
        return None
    state.background = (slot, state.ids[slot])
    return slot


def _names_something(state: BrandState, rule: BackgroundRule) -> bool:
    """Whether a name other than the brand's own is common to its mentions (`common`): what
    they share is then that thing (an event's hashtag, a place), not the brand."""
    most = max(state.mentions_of.values(), default=0)
    return most >= max(rule.entity_min, rule.common * state.seen)


def typical(state: BrandState, slot: int, similarity: float, rule: BackgroundRule) -> bool:
    """Whether `similarity` to `slot`'s centroid is as high as its members' usually is."""
    mean, variance = float(state.fit_mean[slot]), float(state.fit_var[slot])
    return similarity >= mean - rule.spread * math.sqrt(max(variance, 0.0))


def beyond_brand(state: BrandState, slot: int, vector: np.ndarray, threshold: float) -> bool:
    """Whether `vector` and `slot`'s centroid are `threshold` similar in what they say
    beyond the brand: the cosine of the two with the brand's mean direction taken out."""
    brand = state.mean / max(float(np.linalg.norm(state.mean)), 1e-12)
    centroid = state.unit[slot]
    c, v = float(centroid @ brand), float(vector @ brand)
    rest = float(centroid @ vector) - c * v
    norms = math.sqrt(max(1.0 - c * c, 0.0) * max(1.0 - v * v, 0.0))
    return norms > 1e-9 and rest >= threshold * norms
