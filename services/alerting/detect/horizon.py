"""What one horizon of the count detector has learned about its series' ordinary windows."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

_MIN_SPREAD = 1e-3
_MAD_TO_SD = 1.4826  # sd of a normal over its median absolute deviation


@dataclass(slots=True)
class HorizonStats:
    """One horizon's spread, and how surprising its ordinary days are.

    `spread` is a running median of |log(count / expected)|, `poisson` the running
    mean of the Poisson part of that spread; `peaks` the largest surprise of each of the
    last days, `peak` today's.
    """

    spread: float = 0.0
    poisson: float = 0.0
    n: int = 0
    day: int = -1
    peak: float = 0.0
    peaks: list[float] = field(default_factory=list)
    # The `peaks` list `_median` is of (`peaks` is replaced, never changed in place).
    _median_of: list[float] | None = field(default=None, repr=False, compare=False)
    _median: float = field(default=0.0, repr=False, compare=False)

    def dispersion(self) -> float:
        """Return the extra-Poisson variance of log counts this horizon has seen."""
        return max(0.0, (_MAD_TO_SD * self.spread) ** 2 - self.poisson)

    def to_dict(self) -> dict[str, Any]:
        """Return what was learned as a JSON-ready dict (without the cache)."""
        return {
            "spread": self.spread,
            "poisson": self.poisson,
            "n": self.n,
            "day": self.day,
            "peak": self.peak,
            "peaks": list(self.peaks),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HorizonStats:
        """Restore `to_dict` output."""
        return cls(
            spread=float(data["spread"]),
            poisson=float(data["poisson"]),
            n=int(data["n"]),
            day=int(data["day"]),
            peak=float(data["peak"]),
            peaks=[float(v) for v in data["peaks"]],
        )

    def median_peak(self) -> float:
        """Median of `peaks` (not empty): recomputed only when a day closes."""
        if self._median_of is not self.peaks:
            self._median, self._median_of = statistics.median(self.peaks), self.peaks
        return self._median

    def roll(self, day: int, memory: int) -> None:
        """Close the previous day's peak when a new day starts."""
        if day != self.day:
            if self.day >= 0:
                self.peaks = [*self.peaks, self.peak][-memory:]
            self.day, self.peak = day, 0.0

    def learn(self, count: float, mean: float, half_life_alpha: float) -> None:
        """Track the median |log(count / expected)| (robust to the bursts it must judge)."""
        r = abs(math.log((count + 0.5) / (mean + 0.5)))
        self.n += 1
        alpha = max(1.0 / self.n, half_life_alpha)
        if self.n == 1:
            self.spread = max(r, _MIN_SPREAD)
        else:
            # Multiplicative steps: the running median moves as fast in relative terms
            # from a wide young guess as from a narrow one.
            step = max(alpha, 2.0 / (self.n + 10))
            grown = self.spread * math.exp(step if r > self.spread else -step)
            self.spread = max(_MIN_SPREAD, grown)
        self.poisson += alpha * (1.0 / (mean + 0.5) - self.poisson)
