"""Online volume detector that reasons in counts: one bin in, at most one alert out.

Expected volume is a level times the hour-of-day shape (`detect.season.DayShape`, which a
young series borrows from the population). Each bin, the count over several horizons
(5 minutes to 12 hours) is compared with what the level *before that window* predicts,
under a negative binomial whose extra-Poisson dispersion is learned per horizon (shrunk
towards a prior, and widened while the series is young). The statistic is the tail's
surprise, -log10 P(X >= x): exact at 0-20 counts, comparable across horizons, so one
threshold serves bursts on tiny brands and slow burns on big ones. A horizon also needs
`min_excess` counts and `min_ratio` times its expectation.

Learning is winsorised (a spike barely moves the level). An alert re-arms only after
`rearm_minutes` of calm, and when a series stays above its old level for `adapt_hours`
after an alert, that level is taken as the new normal (`detect._adoption`): a lasting
shift pages once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from services.alerting.detect._adoption import Probation, window_level
from services.alerting.detect._debounce import Debounce
from services.alerting.detect.alert import Alert, from_epoch, half_life_alpha, to_epoch
from services.alerting.detect.horizon import HorizonStats
from services.alerting.detect.season import POPULATION_DAY_SHAPE, DayShape, surprise
from services.alerting.detect.young import Verdict, YoungConfig, YoungLevel

RULE = "volume_spike"
MODEL = "counts-1"
_MAX_FILL_HOURS = 1.0  # gaps up to this long are filled with what was expected


@dataclass(frozen=True, slots=True)
class CountConfig:
    """Settings of the count detector; durations are wall-clock, not bins."""

    bin_seconds: int = 60
    horizons_minutes: tuple[float, ...] = (30.0, 60.0, 180.0, 360.0, 720.0)
    threshold: float = 5.0  # surprise (-log10 p) over log10(windows a day) that pages
    calm_surprise: float = 2.0  # below this on every horizon, a bin is calm
    min_excess: float = 8.0
    min_ratio: float = 1.3
    level_half_life_hours: float = 48.0
    dispersion_prior: float = 0.05
    dispersion_prior_hours: float = 24.0
    dispersion_half_life_hours: float = 168.0
    young_dispersion: float = 0.3
    young_hours: float = 6.0
    min_history_hours: float = 2.0
    winsor: float = 3.0
    shape_prior_days: float = 3.0
    shape_half_life_days: float = 14.0
    # A bin enters the day shape this long after it was judged (0: at once), so a window of
    # up to this length is judged by the shape from before it, as it is by the level. Off:
    # leave-one-series-out keeps 0 (docs/detection.md, `tools.eval.shape_delay_choice`).
    shape_delay_minutes: float = 0.0
    prior_shape: tuple[float, ...] = POPULATION_DAY_SHAPE
    cooldown_minutes: float = 360.0
    rearm_minutes: float = 120.0
    adapt_hours: float = 6.0
    recheck_hours: float = 0.0  # an adopted level stays provisional this long (0: final)
    recheck_window_hours: float = 3.0  # the recent hours judged against old and new normal
    calibration_days: int = 14
    calibration_prior_days: float = 3.0
    calibration_floor: float = 1.5
    calibration_power: float = 1.0
    young: YoungConfig = field(default_factory=YoungConfig)  # gamma-Poisson level while young

    def bins(self, minutes: float) -> int:
        """Return the number of bins in `minutes` (at least one)."""
        return max(1, round(minutes * 60 / self.bin_seconds))

    @property
    def horizon_bins(self) -> tuple[int, ...]:
        """Window length in bins of each horizon."""
        return tuple(self.bins(m) for m in self.horizons_minutes)

    @property
    def bin_hours(self) -> float:
        """Length of one bin in hours."""
        return self.bin_seconds / 3600


# Sensitivity presets; `balanced` is the dataclass default, chosen by leave-one-series-out
# on the NAB dev series and the scenarios made from them (docs/detection.md); `sensitive`
# and `strict` are its neighbours on that grid.
_PRESETS: dict[str, dict[str, float]] = {
    "sensitive": {"threshold": 4.0, "min_excess": 6.0},
    "balanced": {},
    "strict": {"threshold": 6.0, "min_excess": 12.0, "cooldown_minutes": 720.0},
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)


def preset(name: str = "balanced", *, bin_seconds: int = 60) -> CountConfig:
    """Return the named sensitivity preset (`sensitive`, `balanced`, `strict`) for a bin size."""
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(CountConfig(bin_seconds=bin_seconds), **_PRESETS[name])  # type: ignore[arg-type]


@dataclass(slots=True)
class _Scores:
    surprise: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    hot: list[bool] = field(default_factory=list)


class CountDetector:
    """Count-model volume detector for one series (a brand, or a brand and topic)."""

    def __init__(self, config: CountConfig | None = None) -> None:
        self.config = cfg = config or CountConfig()
        self.shape = DayShape(cfg.prior_shape, cfg.shape_prior_days, cfg.shape_half_life_days)
        self.level: float | None = None
        # Running sums of counts and of the day-shape multipliers they came with: the
        # level is their ratio (a ratio of means, steady at 0-3 mentions per bin).
        self.sum_count = 0.0
        self.sum_mult = 0.0
        self.n = 0  # bins learned
        self.last_ts: float | None = None
        # (count, shape multiplier, level before the bin) of the latest bins.
        self._spans = cfg.horizon_bins
        self.window: deque[tuple[float, float, float]] = deque(maxlen=max(self._spans))
        # Running totals of counts and multipliers, one more than the window: any
        # horizon's sums are a difference of two of them.
        self._totals: deque[tuple[float, float]] = deque([(0.0, 0.0)], maxlen=max(self._spans) + 1)
        self.horizons = [HorizonStats() for _ in cfg.horizon_bins]
        # log10 of the windows of each horizon in a day: a 5-minute window is tested 288
        # times a day, a 12-hour one twice, so the short one needs more surprise.
        self._tests_per_day = [
            math.log10(max(1.0, 86400 / (w * cfg.bin_seconds))) for w in cfg.horizon_bins
        ]
        self.debounce = Debounce()
        self.elevated = 0  # bins not calm since the last alert
        self.adapted = 0  # times a lasting shift was taken as the new normal
        self.probation: Probation | None = None
        self.young = YoungLevel(cfg.young, cfg.bin_seconds)

    # -- what the engine reads ------------------------------------------------------------

    @property
    def history_hours(self) -> float:
        """Hours of history learned."""
        return self.n * self.config.bin_hours

    def expected_count(self, minutes: float, at: datetime | float | None = None) -> float:
        """Return the count expected over `minutes` at the hour of `at` (else the last bin)."""
        if self.level is None:
            return 0.0
        epoch = to_epoch(at) if isinstance(at, datetime) else (at or self.last_ts or 0.0)
        return self.level * self.shape.at(_hour(epoch)) * self.config.bins(minutes)

    # -- one bin --------------------------------------------------------------------------

    def update(self, ts: datetime, value: float, *, expected_lift: float = 1.0) -> Alert | None:
        """Score the bin ending at `ts`, learn from it, and return an alert if one fires.

        `expected_lift` (>= 1 for a planned campaign) divides the count: lifted volume is
        neither alerted on nor learned as the new normal. Bins at or before the last seen
        timestamp are ignored, so a replayed bin is a no-op.
        """
        cfg = self.config
        epoch = to_epoch(ts)
        if self.last_ts is not None and epoch <= self.last_ts:
            return None
        self._bridge(epoch)
        self.last_ts = epoch
        value = max(0.0, float(value)) if math.isfinite(value) else 0.0
        lift = max(1e-6, float(expected_lift)) if math.isfinite(expected_lift) else 1.0
        x = value / lift
        hour = _hour(epoch - cfg.bin_seconds / 2)
        mult = self.shape.at(hour)
        if self.level is None:
            self.level = x / mult
        self._push(_entry(x, mult, self.level))
        scores = self._score(epoch)
        young = self.young.update(x, mult, self._own_dispersion())
        self._learn(x, mult, hour, epoch)
        young_hot = young is not None and young.hot
        hot = any(scores.hot) or young_hot
        calm = max(scores.surprise, default=0.0) < cfg.calm_surprise
        self._adapt(calm)
        self._recheck()
        fire = self.debounce.step(
            epoch,
            hot=hot,
            burst=hot,
            calm=calm,
            k=1,
            cooldown_s=cfg.cooldown_minutes * 60,
            max_gap_s=_MAX_FILL_HOURS * 3600 + cfg.bin_seconds,
            calm_k=cfg.bins(cfg.rearm_minutes),
        )
        if not fire:
            return None
        self.elevated = 0
        if young is not None and young_hot and not any(scores.hot):
            return self._young_alert(epoch, young, scores, lift)
        best = max(range(len(scores.surprise)), key=lambda i: scores.surprise[i] * scores.hot[i])
        return Alert(
            ts=from_epoch(epoch),
            rule=RULE,
            score=round(scores.surprise[best], 3),
            value=scores.counts[0],
            baseline=round(scores.expected[0], 3),
            details={
                "horizon_minutes": cfg.horizons_minutes[best],
                "count": round(scores.counts[best], 3),
                "expected": round(scores.expected[best], 3),
                # Against at least one expected mention: "20 where ~0 is usual" reads 20x,
                # not 1e10x, in the incident's reasons and its severity.
                "ratio": round(scores.counts[best] / max(scores.expected[best], 1.0), 3),
                "surprise": [round(s, 2) for s in scores.surprise],
                "history_hours": round(self.history_hours, 2),
                "expected_lift": lift,
            },
        )

    def _young_alert(self, epoch: float, young: Verdict, scores: _Scores, lift: float) -> Alert:
        """The alert of a page of the young-series level model alone."""
        return Alert(
            ts=from_epoch(epoch),
            rule=RULE,
            score=round(young.surprise, 3),
            value=scores.counts[0],
            baseline=round(scores.expected[0], 3),
            details={
                "horizon_minutes": young.horizon_minutes,
                "count": round(young.count, 3),
                "expected": round(young.expected, 3),
                "ratio": round(young.count / max(young.expected, 1.0), 3),
                "young": True,
                "history_hours": round(self.history_hours, 2),
                "expected_lift": lift,
            },
        )

    def _own_dispersion(self) -> list[tuple[float, float]]:
        """(dispersion, hours learned) of the count horizon matching each young horizon."""
        cfg = self.config
        out = []
        for minutes in cfg.young.horizons_minutes:
            if minutes not in cfg.horizons_minutes:
                break
            h = self.horizons[cfg.horizons_minutes.index(minutes)]
            out.append((h.dispersion(), h.n * cfg.bin_hours))
        return out

    def _bridge(self, epoch: float) -> None:
        """Fill a short gap with expected counts (neutral); forget the windows after a long one."""
        cfg = self.config
        if self.last_ts is None or self.level is None:
            return
        missing = round((epoch - self.last_ts) / cfg.bin_seconds) - 1
        if missing <= 0:
            return
        if missing * cfg.bin_hours > _MAX_FILL_HOURS:
            self.window.clear()
            self.young.window.clear()
            self._totals = deque([(0.0, 0.0)], maxlen=self._totals.maxlen)
            return
        for i in range(1, missing + 1):
            mult = self.shape.at(_hour(self.last_ts + i * cfg.bin_seconds - cfg.bin_seconds / 2))
            self._push(_entry(self.level * mult, mult, self.level))
            self.young.fill(self.level * mult, mult)

    def _dispersion(self, i: int, hours_before: float) -> float:
        """Return horizon `i`'s dispersion: learned, shrunk to the prior, widened when young."""
        cfg = self.config
        h = self.horizons[i]
        own_hours = h.n * cfg.bin_hours
        w = own_hours / (own_hours + cfg.dispersion_prior_hours)
        d = w * h.dispersion() + (1.0 - w) * cfg.dispersion_prior
        return d + cfg.young_dispersion * (cfg.young_hours / (cfg.young_hours + hours_before)) ** 2

    def _calibration(self, i: int) -> float:
        """Return how much more surprising this horizon's ordinary days are than the model says.

        A calibrated model's largest daily surprise over `n` windows is about log10(n); a
        series with heavier tails (retweet storms every day) reaches more, and its
        surprises are divided by that factor (median of recent days, shrunk to 1 while
        few days are known), so its routine bursts do not page.
        """
        cfg = self.config
        h = self.horizons[i]
        per_day = 86400 / cfg.bin_seconds / self._spans[i]
        ref = max(cfg.calibration_floor, math.log10(per_day) + 0.5)
        days = len(h.peaks)
        seen = h.median_peak() if days else ref
        typical = (days * seen + cfg.calibration_prior_days * ref) / (
            days + cfg.calibration_prior_days
        )
        return max(1.0, typical / ref) ** cfg.calibration_power

    def _score(self, epoch: float) -> _Scores:
        cfg = self.config
        out = _Scores()
        sums = self._window_sums()
        hours = self.history_hours
        day = int(epoch // 86400)
        alpha = half_life_alpha(cfg.dispersion_half_life_hours / cfg.bin_hours)
        for i, w in enumerate(self._spans):
            hours_before = hours - (w - 1) * cfg.bin_hours
            if w not in sums or hours_before < cfg.min_history_hours:
                out.surprise.append(0.0)
                out.counts.append(0.0)
                out.expected.append(0.0)
                out.hot.append(False)
                continue
            count, mults, level = sums[w]
            mean = level * mults
            raw = surprise(count, mean, self._dispersion(i, hours_before))
            s = raw / self._calibration(i)
            out.surprise.append(s)
            out.counts.append(count)
            out.expected.append(mean)
            out.hot.append(
                s >= cfg.threshold + self._tests_per_day[i]
                and count - mean >= cfg.min_excess
                and count >= cfg.min_ratio * mean
            )
            h = self.horizons[i]
            h.roll(day, cfg.calibration_days)
            h.peak = max(h.peak, raw)
            h.learn(count, mean, alpha)
        return out

    def _push(self, entry: tuple[float, float, float]) -> None:
        self.window.append(entry)
        count, mults = self._totals[-1]
        self._totals.append((count + entry[0], mults + entry[1]))

    def _window_sums(self) -> dict[int, tuple[float, float, float]]:
        """Return, per horizon length in bins, (count, sum of multipliers, level before it)."""
        out: dict[int, tuple[float, float, float]] = {}
        n = len(self.window)
        count, mults = self._totals[-1]
        for w in self._spans:
            if w <= n:
                before = self._totals[-1 - w]
                out[w] = (count - before[0], mults - before[1], self.window[-w][2])
        return out

    def _learn(self, x: float, mult: float, hour: int, epoch: float) -> None:
        cfg = self.config
        assert self.level is not None
        expected = self.level * mult
        noise = self._dispersion(0, self.history_hours) + 1 / (expected + 0.5)
        spread = cfg.winsor * math.sqrt(noise)
        lo = (expected + 0.5) * math.exp(-spread) - 0.5
        hi = (expected + 0.5) * math.exp(spread) - 0.5
        kept = min(max(x, lo), hi) if self.n > 0 else x
        self.n += 1
        alpha = max(1.0 / self.n, half_life_alpha(cfg.level_half_life_hours / cfg.bin_hours))
        per_hour = round(1 / cfg.bin_hours)
        delay_s = cfg.shape_delay_minutes * 60
        self.shape.learn_later(epoch, hour, kept, self.level, per_hour, delay_s)
        self.sum_count += alpha * (kept - self.sum_count)
        self.sum_mult += alpha * (mult - self.sum_mult)
        self.level = self.sum_count / self.sum_mult if self.sum_mult > 0 else kept / mult

    def _adapt(self, calm: bool) -> None:
        """After an alert, take a level that has held for `adapt_hours` as the new normal."""
        cfg = self.config
        if self.debounce.armed or self.debounce.last_fire is None:
            self.elevated = 0
            return
        self.elevated = 0 if calm else self.elevated + 1
        span = cfg.bins(cfg.adapt_hours * 60)
        if self.elevated < span or len(self.window) < span:
            return
        old = self.probation.old_level if self.probation else self.level
        if cfg.recheck_hours > 0 and old is not None:
            self.probation = Probation(old, cfg.bins(cfg.recheck_hours * 60))
        self.level = window_level(self.window, span) or 0.0  # the window is long enough
        self.sum_count = self.level * self.sum_mult
        self.window = deque(
            (_entry(x, m, self.level) for x, m, _ in self.window), self.window.maxlen
        )
        self.young.reset(self.level, span)
        self.elevated = 0
        self.adapted += 1

    def _recheck(self) -> None:
        """Step a provisional level down when the recent hours fit the old normal better."""
        if self.probation is None or self.level is None:
            return
        span = self.config.bins(self.config.recheck_window_hours * 60)
        lower = self.probation.step(self.level, window_level(self.window, span), span)
        if lower is not None:
            self.level, self.sum_count = lower, lower * self.sum_mult
            self.young.reset(lower, span)
        if self.probation.over or self.level <= self.probation.old_level:
            self.probation = None

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict."""
        return {
            "model": MODEL,
            "config": asdict(self.config),
            "level": self.level,
            "sums": [self.sum_count, self.sum_mult],
            "n": self.n,
            "last_ts": self.last_ts,
            "window": [list(p) for p in self.window],
            "horizons": [h.to_dict() for h in self.horizons],
            "shape": self.shape.to_dict(),
            "debounce": self.debounce.to_dict(),
            "elevated": self.elevated,
            "adapted": self.adapted,
            "probation": self.probation.to_dict() if self.probation else None,
            "young": self.young.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: CountConfig | None = None) -> CountDetector:
        """Restore from `to_dict` output; `config` overrides the stored one when given.

        State of another model (the detector this one replaced) restores as a fresh
        detector: the population shape makes it useful again within hours.
        """
        if data.get("model") != MODEL:
            return cls(config)
        if config is None:
            raw = dict(data["config"])
            raw["horizons_minutes"] = tuple(raw["horizons_minutes"])
            raw["prior_shape"] = tuple(raw["prior_shape"])
            raw["young"] = YoungConfig.from_dict(raw.get("young"))
            config = CountConfig(**raw)
        det = cls(config)
        det.level = None if data["level"] is None else float(data["level"])
        det.sum_count, det.sum_mult = (float(v) for v in data["sums"])
        det.n = int(data["n"])
        det.last_ts = None if data["last_ts"] is None else float(data["last_ts"])
        for a, b, c in data["window"]:
            det._push((float(a), float(b), float(c)))
        stored = data["horizons"]
        if len(stored) == len(det.horizons):
            det.horizons = [HorizonStats.from_dict(h) for h in stored]
        det.shape.restore(data["shape"])
        det.debounce = Debounce.from_dict(data["debounce"])
        det.elevated = int(data["elevated"])
        det.adapted = int(data["adapted"])
        det.probation = Probation.from_dict(data.get("probation"))
        det.young = YoungLevel.from_dict(data.get("young"), config.young, config.bin_seconds)
        return det


def _entry(count: float, mult: float, level: float) -> tuple[float, float, float]:
    """Return a window entry rounded as it will be stored (restores decide identically)."""
    return (round(count, 3), round(mult, 4), float(f"{level:.6g}"))


def _hour(epoch: float) -> int:
    return int(epoch // 3600) % 24
