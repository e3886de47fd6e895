"""Provisional new normal after a page: keep it for a lasting shift, step down after a crisis.

When a series stays up for hours after a page, the count path adopts those hours' level
(one incident, then adapt). A crisis that decays over a day looks the same at first, so
the adoption is provisional: for `hours` after it, the recent hours' level is compared
with the old normal and the adopted one. Under a count model whose spread is a fixed
factor, the level that explains the recent hours better is the nearer one in log terms,
so when the recent level falls below the geometric mean of the two, the adopted level
steps down to the recent level (never below the old normal). A lasting shift keeps its
level; a decaying crisis returns to the old normal as fast as its volume does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any


def window_level(window: Sequence[tuple[float, float, float]], span: int) -> float | None:
    """Level (count per unit day-shape multiplier) of the last `span` (count, mult, _) bins."""
    if len(window) < span:
        return None
    part = list(islice(reversed(window), span))
    mults = sum(m for _, m, _ in part)
    return sum(x for x, _, _ in part) / mults if mults > 0 else None


@dataclass(slots=True)
class Probation:
    """What an adoption under probation remembers: the old normal and the time left."""

    old_level: float
    bins_left: int
    bins_seen: int = 0

    def step(self, level: float, recent: float | None, window_bins: int) -> float | None:
        """Advance one bin; return the level to step down to, if the recent hours say so.

        `recent` is the level of the last `window_bins` bins (None when unknown); it is
        only judged once the window lies wholly after the adoption.
        """
        self.bins_left -= 1
        self.bins_seen += 1
        if recent is None or self.bins_seen < window_bins or level <= self.old_level:
            return None
        if recent < math.sqrt(self.old_level * level):
            return max(self.old_level, recent)
        return None

    @property
    def over(self) -> bool:
        """True once the probation has run out."""
        return self.bins_left <= 0

    def to_dict(self) -> dict[str, Any]:
        """Return the state as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Probation | None:
        """Restore from `to_dict` output (None, as stored before probation existed: none)."""
        if not data:
            return None
        return cls(float(data["old_level"]), int(data["bins_left"]), int(data["bins_seen"]))
