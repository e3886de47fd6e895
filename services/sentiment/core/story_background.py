"""The brand's background story: what its ordinary mentions look like.

Every mention of a brand names it, so a brand's everyday talk (product questions, shop
hours, praise, adverts) gathers into one loose story whose centroid is the brand's mean
vector itself: it says nothing beyond the brand. Left to compete by similarity like any
story, it takes everything that names the brand, a battery fire included. So the open
story whose centroid is within `likeness` of the brand's mean (once it has `least` members)
is the brand's *background*: it does not compete by similarity. A mention joins it when it
fits it as well as its members usually do (its similarity at least their mean less
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
    history: int  # brand mentions before it has one (its first are often one story)
    spread: float  # standard deviations below its members' mean fit that still fit


def background_slot(state: BrandState, open_: np.ndarray, rule: BackgroundRule) -> int | None:
    """The open story of the brand that is its background, or None."""
    if not rule.likeness or state.seen < rule.history or not open_.any():
        return None
    norm = float(np.linalg.norm(state.mean))
    if norm <= 1e-6:
        return None
    likeness = state.unit @ (state.mean / norm)
    likeness[~open_ | (state.size < rule.least)] = -np.inf
    slot = int(np.argmax(likeness))
    return slot if likeness[slot] >= rule.likeness else None


def typical(state: BrandState, slot: int, similarity: float, rule: BackgroundRule) -> bool:
    """Whether `similarity` to `slot`'s centroid is as high as its members' usually is."""
    mean, variance = float(state.fit_mean[slot]), float(state.fit_var[slot])
    return similarity >= mean - rule.spread * math.sqrt(max(variance, 0.0))


def specific(state: BrandState, slot: int, vector: np.ndarray, similarity: float) -> bool:
    """Whether `vector` is closer to `slot`'s centroid than what both share with the brand's
    mean explains (their similarity less the product of their cosines with the mean)."""
    norm = float(np.linalg.norm(state.mean))
    if norm <= 1e-6:
        return True
    brand = state.mean / norm
    return similarity > float(state.unit[slot] @ brand) * float(vector @ brand)
