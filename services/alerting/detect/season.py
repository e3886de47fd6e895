"""Count model pieces: negative-binomial tail, and the shape of the day pooled with a prior.

`surprise` is -log10 of the upper tail P(X >= x) of a negative binomial with mean `mean`
and variance `mean + dispersion * mean**2` (Poisson when `dispersion` is 0): exact at
small counts, so 15 where 1 is usual is as surprising as it is.

`DayShape` is the hour-of-day profile of one series (multipliers of its level, mean 1).
A young series borrows a population shape (`POPULATION_DAY_SHAPE`, or one the caller
pools across brands) and moves to its own as each hour is seen on more days.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from scipy.special import betainc, gammainc

HOURS = 24
# Hour-of-day (UTC) volume of brand mentions relative to the day's mean, pooled over the
# NAB realTweets dev series (`tools.eval.scenarios.population_day_shape`).
POPULATION_DAY_SHAPE: tuple[float, ...] = (
    0.975,
    0.901,
    0.885,
    1.003,
    0.605,
    0.511,
    0.489,
    0.458,
    0.492,
    0.528,
    0.559,
    0.687,
    0.904,
    1.148,
    1.409,
    1.353,
    1.416,
    1.492,
    1.43,
    1.448,
    1.517,
    1.288,
    1.209,
    1.291,
)


def surprise(count: float, mean: float, dispersion: float) -> float:
    """Return -log10 P(X >= count) for X negative binomial (mean, mean + d * mean**2)."""
    x = math.floor(count + 1e-9)
    if x <= 0:
        return 0.0
    mean = max(mean, 1e-9)
    if dispersion <= 1e-9:
        tail = float(gammainc(x, mean))
    else:
        r = 1.0 / dispersion
        tail = float(betainc(x, r, mean / (r + mean)))
    return -math.log10(max(tail, 1e-300))


class DayShape:
    """Hour-of-day multipliers of one series, shrunk towards a prior shape.

    Each hour's own multiplier is a ratio of running sums (counts seen over counts the
    level predicted), stable at 0-3 mentions per bin where a mean of ratios is not.
    """

    def __init__(
        self,
        prior: tuple[float, ...] = POPULATION_DAY_SHAPE,
        prior_days: float = 3.0,
        half_life_days: float = 14.0,
    ) -> None:
        self.prior = prior
        self.prior_days = prior_days
        self.half_life_days = half_life_days
        self.counts = [0.0] * HOURS
        self.levels = [0.0] * HOURS
        self.seen = [0.0] * HOURS  # days' worth of bins learned per hour, capped
        # Each hour's blend before normalising, and their mean (`_blend`); none before the
        # first blend, when the multipliers are the prior's as given.
        self._raw: list[float] = []
        self._mean = 0.0
        # Bins waiting to be learned (`learn_later`): (epoch, hour, count, level).
        self.pending: deque[tuple[float, int, float, float]] = deque()

    def at(self, hour: int) -> float:
        """Return the blended multiplier of `hour` (0-23, UTC)."""
        if not self._raw:
            return self.prior[hour]
        return max(0.05, self._raw[hour] / self._mean) if self._mean > 0 else 1.0

    @property
    def table(self) -> list[float]:
        """The blended multiplier of every hour."""
        return [self.at(h) for h in range(HOURS)]

    def learn(self, hour: int, count: float, level: float, bins_per_hour: int) -> None:
        """Learn one bin: its count (winsorised by the caller) and the level it was judged by."""
        step = 1.0 / bins_per_hour
        days = min(self.seen[hour] + step, self.half_life_days)
        self.seen[hour] = days
        keep = 1.0 - step / days
        self.counts[hour] = keep * self.counts[hour] + count
        self.levels[hour] = keep * self.levels[hour] + level
        self._blend(hour)

    def learn_later(
        self,
        epoch: float,
        hour: int,
        count: float,
        level: float,
        bins_per_hour: int,
        delay_s: float,
    ) -> None:
        """Queue one bin; learn every queued bin at least `delay_s` older than `epoch`.

        A delay as long as a window keeps that window judged by the shape from before it
        (as the level is), so a rise does not explain itself through its own hour's cell.
        """
        self.pending.append((epoch, hour, count, level))
        while self.pending and self.pending[0][0] <= epoch - delay_s:
            _, h, c, lv = self.pending.popleft()
            self.learn(h, c, lv, bins_per_hour)

    def set_prior(self, prior: tuple[float, ...]) -> None:
        """Borrow another prior shape (the population's, pooled live)."""
        if prior != self.prior:
            self.prior = prior
            self._blend()

    def _blend(self, hour: int | None = None) -> None:
        """Recompute the table; after learning one `hour`, only that hour's raw blend."""
        if hour is None or len(self._raw) != HOURS:
            self._raw = [self._raw_at(h) for h in range(HOURS)]
        else:
            self._raw[hour] = self._raw_at(hour)
        self._mean = sum(self._raw) / HOURS

    def _raw_at(self, h: int) -> float:
        days = self.seen[h]
        w = days / (days + self.prior_days) if self.prior_days > 0 else 1.0
        own = self.counts[h] / self.levels[h] if self.levels[h] > 0 else self.prior[h]
        return w * own + (1.0 - w) * self.prior[h]

    def to_dict(self) -> dict[str, Any]:
        """Return the learned state as a JSON-ready dict."""
        return {
            "counts": self.counts,
            "levels": self.levels,
            "seen": self.seen,
            "pending": [list(p) for p in self.pending],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Load `to_dict` output into this shape (keeping the current prior and settings)."""
        self.counts = [float(v) for v in data["counts"]]
        self.levels = [float(v) for v in data["levels"]]
        self.seen = [float(v) for v in data["seen"]]
        self.pending = deque(
            (float(e), int(h), float(c), float(lv)) for e, h, c, lv in data.get("pending", [])
        )
        self._blend()
