"""Sustained-rise detector: a one-sided CUSUM of count log-likelihood ratios over hours.

For slow burns (complaints that double over a day, hour after hour, with no sharp
5-minute spike). Bins are summed into periods (an hour); each period's count `x` is
compared with its expected count `mu` (a slow level times the hour-of-day shape, learned
`guard_hours` late so a rise is judged against the level before it) by the negative-
binomial log-likelihood ratio of "the rate is `ratio` times usual" against "as usual",
one CUSUM arm per design ratio in `ratios` (a rise of unknown size: a 1.5x arm for slow
shifts, 2x and 3x for steeper burns). Each arm's `S = max(0, S + llr / inflation)`;
a page needs `threshold + log(len(ratios))` nats in one arm (the allowance for looking
at several arms).

Real volume drifts in runs (a busy day is busy for hours), so hourly log ratios are not
independent: `inflation` is the long-run variance ratio (the variance of a `run_hours`
mean residual times `run_hours`, over the hourly variance), learned per series, so a
series whose ordinary days drift for hours needs correspondingly more hours of rise.
A period counts at most `cap_ratio` times its expectation: one burst is not a trend (the
spike paths judge bursts). After a page the CUSUM restarts and the level of the last
`adapt_periods` periods is taken as the new normal: a lasting shift pages once, a rise
that keeps growing pages again only after growing by a design ratio once more. With
`centered`, the reference is the level's *median* (the running median hourly log
residual is learned and taken off), for series whose mean sits above a typical hour.
With `change_spreads` (off; measured in docs/detection.md), both spreads are those of
the residual's changes from the hour (run) before, exact medians over the first
`prior_hours`: right from day two on clean series, where the running medians climb from
0 for a week.

Per bin the work is O(1) (one addition); per period a handful of scalar updates. Memory
is bounded by the guard (`guard_hours` periods).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from services.alerting.detect.alert import Alert, from_epoch, half_life_alpha, to_epoch
from services.alerting.detect.season import POPULATION_DAY_SHAPE, DayShape

RULE = "sustained_rise"
MODEL = "sustained-2"
_MAD_TO_SD = 1.4826
_MIN_SPREAD = 1e-3
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class SustainedConfig:
    """Settings of the sustained-rise detector; durations are wall-clock, not bins."""

    bin_seconds: int = 60
    period_minutes: float = 60.0
    ratios: tuple[float, ...] = (1.5, 2.0, 3.0)  # the rises (x usual) of the CUSUM arms
    threshold: float = 12.0  # CUSUM nats that page (plus log of the arms)
    cap_ratio: float = 3.0
    min_excess: float = 20.0  # counts above expectation over the rising run
    min_run_hours: float = 3.0  # a rise shorter than this is a burst, not a trend
    max_run_hours: float = 24.0  # a rise unpaged for this long is taken as the new normal
    level_half_life_hours: float = 72.0
    guard_hours: int = 12
    min_history_hours: float = 48.0
    dispersion_prior: float = 0.05
    inflation_prior: float = 2.0
    prior_hours: float = 48.0  # weight of the priors, in hours of history
    spread_half_life_hours: float = 336.0
    run_hours: int = 6
    change_spreads: bool = False  # spreads of residual changes, exact warm-up (tried, off)
    adapt_periods: int = 6
    prior_shape: tuple[float, ...] = POPULATION_DAY_SHAPE
    shape_prior_days: float = 3.0
    shape_half_life_days: float = 14.0
    centered: bool = False  # judge against the median hour, not the mean (tried, off)

    @property
    def period_seconds(self) -> float:
        """Length of one period in seconds."""
        return self.period_minutes * 60

    @property
    def bins_per_period(self) -> int:
        """Bins in one period (at least one)."""
        return max(1, round(self.period_seconds / self.bin_seconds))

    @property
    def period_hours(self) -> float:
        """Length of one period in hours."""
        return self.period_minutes / 60


_PRESETS: dict[str, dict[str, float]] = {
    "sensitive": {"threshold": 7.0, "min_excess": 12.0},
    "balanced": {},
    "strict": {"threshold": 14.0, "min_excess": 40.0},
}


def preset(name: str = "balanced", *, bin_seconds: int = 60) -> SustainedConfig:
    """Return the named sensitivity preset (`sensitive`, `balanced`, `strict`) for a bin size."""
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(_PRESETS)}")
    return SustainedConfig(bin_seconds=bin_seconds, **_PRESETS[name])  # type: ignore[arg-type]


def nb_llr(x: float, mean: float, dispersion: float, ratio: float) -> float:
    """Return log P(x | mean * ratio) - log P(x | mean), negative binomial (Poisson at d=0)."""
    mean = max(mean, 1e-6)
    if dispersion <= 1e-9:
        return x * math.log(ratio) - (ratio - 1.0) * mean
    r = 1.0 / dispersion
    return x * math.log(ratio * (r + mean) / (r + ratio * mean)) + r * math.log(
        (r + mean) / (r + ratio * mean)
    )


class SustainedDetector:
    """Sustained-rise detector for one series (a brand's or a topic's volume or negatives)."""

    def __init__(self, config: SustainedConfig | None = None) -> None:
        self.config = cfg = config or SustainedConfig()
        self.shape = DayShape(cfg.prior_shape, cfg.shape_prior_days, cfg.shape_half_life_days)
        self.sum_count = 0.0
        self.sum_mult = 0.0
        self.level: float | None = None
        self.learned = 0  # periods learned into the level
        self.seen = 0  # periods scored
        self.period: int | None = None  # index of the open period
        self.acc = 0.0  # counts of the open period
        self.acc_bins = 0
        self.last_ts: float | None = None
        # Scored periods not yet learned: (hour, count, multiplier, log residual).
        self.pending: deque[tuple[int, float, float, float]] = deque()
        runs = 2 if cfg.change_spreads else 1  # a change needs the run before too
        self.residuals: deque[float] = deque(maxlen=runs * cfg.run_hours)
        self.spread = 0.0  # running median |hourly log residual|
        self.run_spread = 0.0  # running median |mean log residual over run_hours|
        self.poisson = 0.0  # running mean of the Poisson part of the hourly variance
        self.n_spread = 0
        self.warm: list[float] = []  # the first `prior_hours` residuals (exact medians)
        self.center = 0.0  # running median hourly log residual (a mean level sits above it)
        arms = len(cfg.ratios)
        self.cusums = [0.0] * arms  # one CUSUM per design ratio
        # Per arm: counts, expectation and periods since its CUSUM last left zero.
        self.run_counts = [0.0] * arms
        self.run_expected = [0.0] * arms
        self.run_periods = [0] * arms
        self.recent: deque[float] = deque(maxlen=cfg.adapt_periods)  # recent count/multiplier
        self.adapt_in = 0  # periods until the level after another path's page is adopted
        self.alerts = 0

    @property
    def history_hours(self) -> float:
        """Hours of history scored."""
        return self.seen * self.config.period_hours

    def reset(self, *, paged: bool = False) -> None:
        """Restart the CUSUM; `paged`: another path paged, so adopt the level that follows."""
        if paged:
            self.adapt_in = self.config.adapt_periods
        arms = len(self.config.ratios)
        self.cusums = [0.0] * arms
        self.run_counts = [0.0] * arms
        self.run_expected = [0.0] * arms
        self.run_periods = [0] * arms

    @property
    def cusum(self) -> float:
        """The largest arm's CUSUM (nats)."""
        return max(self.cusums)

    def update(self, ts: datetime, value: float, *, expected_lift: float = 1.0) -> Alert | None:
        """Add the bin ending at `ts`; when it closes a period, score it and maybe page."""
        cfg = self.config
        epoch = to_epoch(ts)
        if self.last_ts is not None and epoch <= self.last_ts:
            return None
        self.last_ts = epoch
        value = max(0.0, float(value)) if math.isfinite(value) else 0.0
        lift = max(1e-6, float(expected_lift)) if math.isfinite(expected_lift) else 1.0
        index = int((epoch - cfg.bin_seconds / 2) // cfg.period_seconds)
        alert = None
        if self.period is not None and index != self.period:
            alert = self._close(epoch)
        if self.period != index:
            self.period, self.acc, self.acc_bins = index, 0.0, 0
        self.acc += value / lift
        self.acc_bins += 1
        return alert

    def _close(self, epoch: float) -> Alert | None:
        """Score and learn the open period (a period with under half its bins is skipped)."""
        cfg = self.config
        assert self.period is not None
        if self.acc_bins * 2 < cfg.bins_per_period:
            return None
        x = self.acc * cfg.bins_per_period / self.acc_bins
        hour = int(self.period * cfg.period_seconds // 3600) % 24
        mult = self.shape.at(hour)
        self.recent.append(x / mult)
        alert = self._score(epoch, x, mult) if self.level is not None else None
        if self.adapt_in > 0:
            self.adapt_in -= 1
            if self.adapt_in == 0:
                self._adopt(len(self.recent))
        mean = (self.level if self.level is not None else x / mult) * mult
        residual = math.log((x + 0.5) / (mean + 0.5))
        self.pending.append((hour, x, mult, residual))
        self.seen += 1
        guard = max(1, min(round(cfg.guard_hours / cfg.period_hours), self.seen // 2))
        while len(self.pending) > guard:
            self._learn(*self.pending.popleft())
        if self.level is None:
            self._learn(*self.pending.popleft())
        return alert

    def _score(self, epoch: float, x: float, mult: float) -> Alert | None:
        cfg = self.config
        assert self.level is not None
        mean = self.level * mult
        ready = self.history_hours >= cfg.min_history_hours
        dispersion, inflation = self.dispersion(), self.inflation()
        med = mean * math.exp(self.center) if cfg.centered else mean
        capped = min(x, cfg.cap_ratio * med)
        bar = cfg.threshold + math.log(len(cfg.ratios))
        page = None
        for k, ratio in enumerate(cfg.ratios):
            llr = nb_llr(capped, med, dispersion, ratio)
            s = max(0.0, self.cusums[k] + llr / inflation) if ready else 0.0
            self.cusums[k] = s
            if s <= 0.0:
                self.run_counts[k] = self.run_expected[k] = 0.0
                self.run_periods[k] = 0
                continue
            self.run_counts[k] += x
            self.run_expected[k] += mean
            self.run_periods[k] += 1
            if self.run_periods[k] * cfg.period_hours > cfg.max_run_hours:
                self._adopt(cfg.adapt_periods)
                self.reset()
                return None
            excess = self.run_counts[k] - self.run_expected[k]
            short = self.run_periods[k] * cfg.period_hours < cfg.min_run_hours
            hot = s >= bar and x > mean and excess >= cfg.min_excess and not short
            if hot and (page is None or s > self.cusums[page]):
                page = k
        if page is None:
            return None
        count, expected = self.run_counts[page], self.run_expected[page]
        hours = self.run_periods[page] * cfg.period_hours
        alert = Alert(
            ts=from_epoch(epoch),
            rule=RULE,
            score=round(self.cusums[page], 3),
            value=round(x, 3),
            baseline=round(mean, 3),
            details={
                "period_minutes": cfg.period_minutes,
                "hours": round(hours, 2),
                "count": round(count, 3),
                "expected": round(expected, 3),
                "ratio": round(x / max(mean, 1.0), 3),
                "run_ratio": round(count / max(expected, 1.0), 3),
                "design_ratio": cfg.ratios[page],
                "history_hours": round(self.history_hours, 2),
            },
        )
        self._adapt()
        return alert

    def _adapt(self) -> None:
        """Take the level of the last periods as the new normal and restart the CUSUM.

        The periods of the rise not yet learned are dropped: learned late, they would pull
        the level back below the new normal and page the same shift again days later. As
        after another path's page, the level of the `adapt_periods` after it is adopted
        too: a rise paged halfway up its ramp does not page again for the rest of it.
        """
        self._adopt(3)
        self.alerts += 1
        self.reset(paged=self.config.change_spreads)

    def _adopt(self, periods: int) -> None:
        """Raise the level to the median of the last `periods` (a burst hour moves no median)."""
        last = sorted(list(self.recent)[-periods:])
        if not last or self.level is None:
            return
        self.level = max(self.level, last[len(last) // 2])
        self.sum_count = self.level * self.sum_mult
        self.pending.clear()

    def dispersion(self) -> float:
        """Return the extra-Poisson variance of hourly log counts, shrunk to the prior."""
        cfg = self.config
        own = max(0.0, (_MAD_TO_SD * self.spread) ** 2 - self.poisson)
        w = self._weight()
        return w * own + (1.0 - w) * cfg.dispersion_prior

    def inflation(self) -> float:
        """Return how many hourly looks one independent look is worth (>= 1), learned."""
        cfg = self.config
        own = 1.0
        if self.spread > _MIN_SPREAD and self.run_spread > 0.0:
            own = cfg.run_hours * (self.run_spread / self.spread) ** 2
        own = min(max(own, 1.0), float(cfg.run_hours))
        w = self._weight()
        return w * own + (1.0 - w) * cfg.inflation_prior

    def _weight(self) -> float:
        own = self.n_spread * self.config.period_hours
        return own / (own + self.config.prior_hours)

    def _learn(self, hour: int, x: float, mult: float, residual: float) -> None:
        cfg = self.config
        self.learned += 1
        first = self.level is None
        half_life = cfg.level_half_life_hours / cfg.period_hours
        alpha = max(1.0 / self.learned, half_life_alpha(half_life))
        level = self.level if self.level is not None else x / mult
        self.shape.learn(hour, x, level, 1)
        self.sum_count += alpha * (x - self.sum_count)
        self.sum_mult += alpha * (mult - self.sum_mult)
        self.level = self.sum_count / self.sum_mult if self.sum_mult > 0 else x / mult
        if not (first and cfg.change_spreads):  # the first hour's residual is 0 by construction
            self._learn_spread(residual, level * mult)

    def _learn_spread(self, residual: float, mean: float) -> None:
        """Running medians of |hourly| and |run-mean| log residuals (robust to the rises).

        With `change_spreads`, of their changes (`_looks`), exact over the first hours.
        """
        cfg = self.config
        self.n_spread += 1
        n = self.n_spread
        alpha = max(1.0 / n, half_life_alpha(cfg.spread_half_life_hours / cfg.period_hours))
        step = max(alpha, 2.0 / (n + 10))
        self.poisson += alpha * (1.0 / (mean + 0.5) - self.poisson)
        if cfg.centered:
            if n > 1:
                self.center += step * max(self.spread, 0.05) * (1 if residual > self.center else -1)
            else:
                self.center = residual
            residual -= self.center
        self.residuals.append(residual)
        changes = cfg.change_spreads
        if changes and len(self.warm) == n - 1 and n <= cfg.prior_hours / cfg.period_hours:
            self.warm.append(round(residual, 4))
            self.spread, self.run_spread = _exact_spreads(self.warm, cfg.run_hours, changes)
            return
        hourly, run = _looks(list(self.residuals), cfg.run_hours, changes)
        if hourly is not None:
            self.spread = _median_step(self.spread, hourly, step)
        if run is not None:
            self.run_spread = _median_step(self.run_spread, run, step)

    # -- state ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict."""
        return {
            "model": MODEL,
            "config": asdict(self.config),
            "sums": [self.sum_count, self.sum_mult],
            "level": self.level,
            "learned": self.learned,
            "seen": self.seen,
            "period": self.period,
            "acc": [self.acc, self.acc_bins],
            "last_ts": self.last_ts,
            "pending": [list(p) for p in self.pending],
            "residuals": list(self.residuals),
            "spread": [self.spread, self.run_spread, self.poisson, self.n_spread],
            "warm": self.warm,
            "run": [self.cusums, self.run_counts, self.run_expected, self.run_periods],
            "recent": list(self.recent),
            "alerts": self.alerts,
            "adapt_in": self.adapt_in,
            "shape": self.shape.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any] | None, config: SustainedConfig | None = None
    ) -> SustainedDetector:
        """Restore from `to_dict` output; `config` overrides the stored one when given.

        Missing state, or state of another model, restores as a fresh detector.
        """
        if not data or data.get("model") != MODEL:
            return cls(config)
        if config is None:
            raw = dict(data["config"])
            raw["prior_shape"] = tuple(raw["prior_shape"])
            raw["ratios"] = tuple(raw["ratios"])
            config = SustainedConfig(**raw)
        det = cls(config)
        det.sum_count, det.sum_mult = (float(v) for v in data["sums"])
        det.level = None if data["level"] is None else float(data["level"])
        det.learned, det.seen = int(data["learned"]), int(data["seen"])
        det.period = None if data["period"] is None else int(data["period"])
        det.acc, det.acc_bins = float(data["acc"][0]), int(data["acc"][1])
        det.last_ts = None if data["last_ts"] is None else float(data["last_ts"])
        det.pending = deque(
            (int(h), float(x), float(m), float(r)) for h, x, m, r in data["pending"]
        )
        det.residuals.extend(float(v) for v in data["residuals"])
        spread, run_spread, poisson, n = data["spread"]
        det.spread, det.run_spread, det.poisson = float(spread), float(run_spread), float(poisson)
        det.n_spread = int(n)
        det.warm = [float(v) for v in data.get("warm", [])]  # absent in older states
        cusums, counts, expected, periods = data["run"]
        if len(cusums) == len(config.ratios):
            det.cusums = [float(v) for v in cusums]
            det.run_counts = [float(v) for v in counts]
            det.run_expected = [float(v) for v in expected]
            det.run_periods = [int(v) for v in periods]
        det.recent.extend(float(v) for v in data["recent"])
        det.alerts = int(data["alerts"])
        det.adapt_in = int(data["adapt_in"])
        det.shape.restore(data["shape"])
        return det


def _looks(window: list[float], run: int, differenced: bool) -> tuple[float | None, float | None]:
    """The newest hourly and run-mean looks of a residual window (None: too few residuals).

    Plain: |residual| and |mean of the last `run`|. `differenced`: the same of the change
    from the hour (run) before, over sqrt 2: the spread of a residual whose mean drifts
    slowly (a level or shape still learning) without the drift.
    """
    if not differenced:
        runs = abs(sum(window[-run:]) / run) if len(window) >= run else None
        return abs(window[-1]), runs
    hourly = abs(window[-1] - window[-2]) / _SQRT2 if len(window) >= 2 else None
    if len(window) < 2 * run:
        return hourly, None
    return hourly, abs(sum(window[-run:]) - sum(window[-2 * run : -run])) / run / _SQRT2


def _exact_spreads(residuals: list[float], run: int, differenced: bool) -> tuple[float, float]:
    """Exact medians of the hourly and run looks over `residuals` (0.0 when none yet)."""
    hourly, runs = [], []
    for end in range(1, len(residuals) + 1):
        one, many = _looks(residuals[:end], run, differenced)
        hourly += [] if one is None else [one]
        runs += [] if many is None else [many]
    return (
        max(statistics.median(hourly), _MIN_SPREAD) if hourly else 0.0,
        max(statistics.median(runs), _MIN_SPREAD) if runs else 0.0,
    )


def _median_step(current: float, value: float, step: float) -> float:
    """One multiplicative step of a running median (moves as fast from wide as from narrow)."""
    if current <= 0.0:
        return max(value, _MIN_SPREAD)
    return max(_MIN_SPREAD, current * math.exp(step if value > current else -step))
