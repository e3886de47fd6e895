"""Level of a young series with the uncertainty of its short history (gamma-Poisson).

The series' level (mentions per bin at day-shape multiplier 1) has a gamma posterior
Gamma(a, b): a prior of `prior_count` mentions over `prior_bins` bins, plus every bin's
count over its multiplier (discounted with `half_life_hours`, so the level can move).
A window of `w` bins with multipliers summing to `M` then has a negative-binomial
predictive: the conjugate one (mean a M / b, extra variance 1/a) widened by the
extra-Poisson spread `delta` of real volume, which a young series borrows from the
population (`dispersion`) and trades for its own as it learns it. Each horizon's window
is judged with the posterior from *before* the window, so a rise does not explain itself.

A horizon is hot when the tail surprise -log10 P(X >= x) passes
`threshold + log10(windows of that horizon in a day)`, with `min_excess` mentions and
`min_ratio` times its expectation. Used while the series is younger than `young_days`
(a day: chosen on the tuning series over 2, 3 and 7, which added false alerts).
Pure: state in, state out, a few scalar updates per bin; once the series is grown up
(or the model is off) only its age is kept.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from services.alerting.detect.alert import half_life_alpha
from services.alerting.detect.season import surprise


@dataclass(frozen=True, slots=True)
class YoungConfig:
    """Settings of the young-series level model; durations are wall-clock, not bins."""

    enabled: bool = False
    young_days: float = 1.0
    horizons_minutes: tuple[float, ...] = (30.0, 60.0, 180.0)
    # Extra-Poisson variance per horizon a series borrows until it knows its own: the
    # tuning series (AAPL, AMZN, CRM) learn 0.85/0.04/0.27 at 30 min after a week; this
    # was chosen on them over their median (0.27, 0.2, 0.125), which caught fewer.
    dispersion: tuple[float, ...] = (0.1, 0.08, 0.06)
    own_dispersion_hours: float = 48.0  # hours of own spread weighing as much as the prior
    threshold: float = 5.0
    min_excess: float = 8.0
    min_ratio: float = 1.5
    prior_count: float = 0.5
    prior_bins: float = 1.0
    half_life_hours: float = 48.0
    min_history_hours: float = 1.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> YoungConfig:
        """Rebuild a stored config (state saved before it existed: the default)."""
        if not raw:
            return cls()
        fields = dict(raw)
        for key in ("horizons_minutes", "dispersion"):
            fields[key] = tuple(fields[key])
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The young model's judgement of one bin: the best horizon and whether it pages."""

    hot: bool
    surprise: float
    horizon_minutes: float
    count: float
    expected: float


def predictive_dispersion(a: float, delta: float) -> float:
    """Return the NB dispersion of a gamma(a)-mixed Poisson further widened by `delta`.

    The rate is level x noise with level ~ Gamma(a, b) and noise of mean 1, variance
    `delta`: the count's variance is mean + mean**2 * (1/a + delta + delta/a).
    """
    inv = 1.0 / max(a, 1e-9)
    return inv + delta * (1.0 + inv)


class YoungLevel:
    """Gamma-Poisson level of one series, with its last windows, judged bin by bin."""

    def __init__(self, config: YoungConfig | None = None, bin_seconds: int = 60) -> None:
        self.config = cfg = config or YoungConfig()
        self.bin_seconds = bin_seconds
        self.spans = tuple(max(1, round(m * 60 / bin_seconds)) for m in cfg.horizons_minutes)
        self.a = cfg.prior_count
        self.b = cfg.prior_bins
        self.n = 0
        # (count, multiplier, a before it, b before it) of the latest bins.
        self.window: deque[tuple[float, float, float, float]] = deque(maxlen=max(self.spans))
        self._tests = [math.log10(max(1.0, 86400 / (w * bin_seconds))) for w in self.spans]

    @property
    def history_hours(self) -> float:
        """Hours of history learned."""
        return self.n * self.bin_seconds / 3600

    @property
    def active(self) -> bool:
        """True while the series is young enough for this model to judge it."""
        return self.config.enabled and self.history_hours < self.config.young_days * 24

    def update(self, count: float, mult: float, own: list[tuple[float, float]]) -> Verdict | None:
        """Judge the bin `count` (at day-shape multiplier `mult`), then learn it.

        `own[i]` is (dispersion, hours) the series has learned itself at horizon `i`
        (empty when unknown). Returns None when inactive or not yet credible.
        """
        if not self.active:  # off, or grown up: only the age is kept
            self.n += 1
            self.window.clear()
            return None
        self._append(count, mult)
        verdict = self._judge(own)
        self._learn(count, mult)
        return verdict

    def fill(self, count: float, mult: float) -> None:
        """Learn a bin filled in for a short gap, without judging it."""
        if not self.active:
            self.n += 1
            return
        self._append(count, mult)
        self._learn(count, mult)

    def _append(self, count: float, mult: float) -> None:
        # Rounded as it will be stored, so a restored model decides identically.
        entry = (round(count, 3), round(mult, 4), float(f"{self.a:.8g}"), float(f"{self.b:.8g}"))
        self.window.append(entry)

    def _judge(self, own: list[tuple[float, float]]) -> Verdict | None:
        cfg = self.config
        verdicts: list[tuple[tuple[bool, float], Verdict]] = []
        entries = list(self.window)
        for i, w in enumerate(self.spans):
            if len(entries) < w:
                continue
            part = entries[-w:]
            _, _, a, b = part[0]
            if (self.n - w + 1) * self.bin_seconds / 3600 < cfg.min_history_hours:
                continue
            count = sum(e[0] for e in part)
            mean = a / b * sum(e[1] for e in part)
            delta = self._delta(i, own)
            s = surprise(count, mean, predictive_dispersion(a, delta))
            hot = (
                s >= cfg.threshold + self._tests[i]
                and count - mean >= cfg.min_excess
                and count >= cfg.min_ratio * mean
            )
            verdict = Verdict(hot, s, cfg.horizons_minutes[i], count, mean)
            verdicts.append(((hot, s - self._tests[i]), verdict))
        return max(verdicts, key=lambda kv: kv[0])[1] if verdicts else None

    def _delta(self, i: int, own: list[tuple[float, float]]) -> float:
        """Return horizon `i`'s spread: the population's, traded for the series' own."""
        cfg = self.config
        prior = cfg.dispersion[min(i, len(cfg.dispersion) - 1)]
        if i >= len(own):
            return prior
        d, hours = own[i]
        w = hours / (hours + cfg.own_dispersion_hours)
        return w * d + (1.0 - w) * prior

    def _learn(self, count: float, mult: float) -> None:
        cfg = self.config
        self.n += 1
        keep = 1.0 - half_life_alpha(cfg.half_life_hours * 3600 / self.bin_seconds)
        mean = self.a / self.b * mult
        # A bin counts at most 3x what the level predicts (plus Poisson room): one burst
        # must not become the young series' level.
        kept = min(count, 3.0 * mean + 3.0 * math.sqrt(mean + 1.0)) if self.n > 1 else count
        # Discount only the data part, so the prior never decays below itself.
        self.a = cfg.prior_count + keep * (self.a - cfg.prior_count) + kept
        self.b = cfg.prior_bins + keep * (self.b - cfg.prior_bins) + mult

    def reset(self, count_per_bin: float, bins: float) -> None:
        """Take `count_per_bin` (per unit multiplier) as the new level, worth `bins` bins."""
        cfg = self.config
        self.a = cfg.prior_count + count_per_bin * bins
        self.b = cfg.prior_bins + bins
        self.window.clear()

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict."""
        return {
            "config": asdict(self.config),
            "a": self.a,
            "b": self.b,
            "n": self.n,
            "window": [list(e) for e in self.window],
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any] | None, config: YoungConfig | None, bin_seconds: int
    ) -> YoungLevel:
        """Restore from `to_dict` output (a fresh model when there is none)."""
        det = cls(config, bin_seconds)
        if not data:
            return det
        det.a, det.b, det.n = float(data["a"]), float(data["b"]), int(data["n"])
        for c, m, a, b in data["window"]:
            det.window.append((float(c), float(m), float(a), float(b)))
        return det
