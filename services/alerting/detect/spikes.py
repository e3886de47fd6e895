"""Online volume-spike detector: one bin at a time, seasonal robust baseline, one page per spike.

The statistic is the count over rolling windows (so thresholds mean the same thing for
1-minute and 5-minute bins), compared in sqrt space with a seasonal baseline of that same
rolling count, at four scales: `window_minutes` (bursts), `mid_window_minutes` (short
surges spread over a few bins), `long_window_minutes` (sustained rises, counted without
the window's largest bin so one burst cannot pass for a plateau) and
`shift_window_minutes` against a slow-level baseline that learns each count only
`shift_guard_hours` later (`shift`: level shifts lasting hours, which ramp up too
gradually for the fast baselines to flag and whose hourly lift is within daily noise).
A scale is *hot* when its robust z passes its threshold and the series' own surprise
bar, the count passes its floor and the lift over expected passes `min_ratio`; an alert
fires after `persist_minutes` of hot bins, or at once when the short z passes `z_burst`,
and re-arms after `rearm_minutes` with every scale calm.

The surprise bar ignores a brand's routine daily peaks, but routine peaks come on
ordinary days. When the last `day_window_hours` run `z_day` above the same hours on
recent days (`detect.daily`), the day itself is news and that rise stands in for
persistence: one short-window bin past `z_sustain` pages (`confirmed`), with no
surprise bar.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from services.alerting.detect._debounce import Debounce
from services.alerting.detect.alert import Alert, from_epoch, to_epoch
from services.alerting.detect.baseline import BaselineConfig, SeasonalBaseline
from services.alerting.detect.counts import CountConfig, CountDetector
from services.alerting.detect.daily import DailyConfig, DayOverDay
from services.alerting.detect.spike_config import (
    FLOOR_MULT,
    LEGACY_SHIFT_KEY,
    PRESETS,
    RULE,
    SCALES,
    TRIM_PEAK,
    SpikeConfig,
    preset,
)
from services.alerting.detect.sustained import SustainedDetector

__all__ = ["PRESETS", "RULE", "SCALES", "SpikeConfig", "SpikeDetector", "preset", "rolling_count"]


class SpikeDetector:
    """Volume-spike detector for one series (a brand, or a brand and topic)."""

    def __init__(self, config: SpikeConfig | None = None) -> None:
        self.config = config or SpikeConfig()
        self.short = SeasonalBaseline(self.config.baseline)
        self.mid = SeasonalBaseline(self.config.baseline)
        self.long = SeasonalBaseline(self.config.baseline)
        self.shift = SeasonalBaseline(self.config.shift_baseline())
        self.daily = DayOverDay(self.config.daily())
        # (epoch, long count) pairs not yet learned by `shift`: a guard band, so a rise
        # that ramps up over a few hours is still compared with the level before it.
        self.pending: deque[tuple[float, float]] = deque()
        self.debounce = Debounce()
        self.window: list[float] = []
        self.last_ts: float | None = None
        self.day = -1
        self.day_peak = [0.0] * len(SCALES)
        self.peaks: list[list[float]] = []
        self._medians_of: list[list[float]] | None = None  # the `peaks` `_medians` are of
        self._medians: list[float] = []
        self.streaks = [0] * len(SCALES)
        self.counts = CountDetector(self.config.counts)
        # Slow burns of the series' volume, and of its negative mentions when given.
        self.sustained = SustainedDetector(self.config.sustained)
        self.souring = SustainedDetector(self.config.sustained)

    @property
    def baselines(self) -> tuple[SeasonalBaseline, ...]:
        """The baseline of each scale in `SCALES`."""
        return (self.short, self.mid, self.long, self.shift)

    def _surprise_floor(self, scale: int) -> float:
        """Return the z this series must beat at `scale` given its own recent daily peaks.

        A brand whose volume jumps tenfold every day is not in crisis when it does so
        again: the bar is `surprise_factor` times the median daily peak z of the last
        `peak_memory_days` days above `noise_peak_z`. Until `peak_credible_days` days are
        known, the median is shrunk towards `prior_peak_z`, so a young series is not
        assumed to be quiet.
        """
        cfg = self.config
        if cfg.surprise_factor <= 0:
            return 0.0
        days = len(self.peaks)
        weight = min(1.0, days / cfg.peak_credible_days) if cfg.peak_credible_days > 0 else 1.0
        seen = self._peak_medians()[scale] if days else 0.0
        typical = weight * seen + (1.0 - weight) * cfg.prior_peak_z
        return cfg.scale_z[scale] + cfg.surprise_factor * max(0.0, typical - cfg.noise_peak_z)

    def _peak_medians(self) -> list[float]:
        """Median daily peak of each scale; `peaks` is replaced, never changed in place, so
        the medians are computed once a day (not every bin)."""
        if self._medians_of is not self.peaks:
            scales = range(len(SCALES))
            self._medians = [statistics.median(p[i] for p in self.peaks) for i in scales]
            self._medians_of = self.peaks
        return self._medians

    def _roll_day(self, epoch: float, zs: list[float]) -> None:
        day = int(epoch // 86400)
        if day != self.day:
            if self.day >= 0:
                self.peaks = [*self.peaks, self.day_peak][-self.config.peak_memory_days :]
            self.day, self.day_peak = day, [0.0] * len(SCALES)
        self.day_peak = [max(a, b) for a, b in zip(self.day_peak, zs, strict=True)]

    def _in_episode(self, epoch: float) -> bool:
        """True while the z-score path is cooling down or not re-armed after its page."""
        last = self.debounce.last_fire
        cooling = last is not None and epoch - last < self.config.cooldown_minutes * 60
        return cooling or not self.debounce.armed

    def rearm(self) -> None:
        """Forget the last page of both paths (a firing the author gate refused)."""
        for debounce in (self.debounce, self.counts.debounce):
            debounce.last_fire = None
            debounce.armed = True

    def _learn_shift(self, epoch: float, count: float) -> None:
        self.pending.append((epoch, count))
        guard = self.config.shift_guard_hours * 3600
        while self.pending and self.pending[0][0] <= epoch - guard:
            self.shift.update(*self.pending.popleft())

    def update(
        self,
        ts: datetime,
        value: float,
        *,
        expected_lift: float = 1.0,
        negatives: float | None = None,
    ) -> Alert | None:
        """Score the bin ending at `ts`, learn from it, and return an alert if one fires.

        `expected_lift` (>= 1 for a planned campaign) multiplies the expected volume for
        this bin; lifted volume is not learned as the new normal, and the alert's `value`
        and `baseline` are in lift-normalised counts over `window_minutes`. `negatives`
        (the bin's negative mentions) feeds the sustained-rise watch of negative volume.
        Bins at or before the last seen timestamp are ignored, so a replayed bin is a no-op.
        One episode pages once: a page of any path restarts the sustained watches, and a
        sustained page counts as the spike paths' page.
        """
        cfg = self.config
        epoch = to_epoch(ts)
        if self.last_ts is not None and epoch <= self.last_ts:
            return None
        if self.last_ts is not None and epoch - self.last_ts > 1.5 * cfg.bin_seconds:
            self.window.clear()
        self.last_ts = epoch
        value = max(0.0, float(value)) if math.isfinite(value) else 0.0
        lift = max(1e-6, float(expected_lift)) if math.isfinite(expected_lift) else 1.0
        # Each bin is stored divided by its own lift, so a planned burst stays explained
        # for as long as it sits in the rolling windows and is never learned as normal.
        self.window.append(value / lift)
        del self.window[: -cfg.shift_window_bins]
        z_day = self.daily.update(epoch, value / lift)

        counts: list[float] = []
        zs: list[float] = []
        ratios: list[float] = []
        expected = 0.0
        for i, (bins, base) in enumerate(zip(cfg.scale_bins, self.baselines, strict=True)):
            count = rolling_count(self.window, bins, trim_peak=TRIM_PEAK[i])
            mu, sigma = base.expected(epoch)
            counts.append(count)
            # A scale whose baseline has not yet learned `warmup_hours` (the guarded
            # shift baseline lags) has no evidence either way.
            ready = base.history_hours >= cfg.warmup_hours
            zs.append((math.sqrt(count) - mu) / sigma if ready else 0.0)
            ratios.append(count / max(mu * mu, 1.0))
            if i == 0:
                expected = mu * mu

        credible = self.short.history_hours >= cfg.warmup_hours
        penalty = 1.0 + cfg.unlearned_penalty * (1.0 - self.short.maturity(epoch))
        floors = [self._surprise_floor(i) for i in range(len(SCALES))]
        hot_scales = [
            credible
            and counts[i] >= FLOOR_MULT[i] * cfg.min_count
            and ratios[i] >= cfg.min_ratio
            and zs[i] >= max(cfg.scale_z[i] * penalty, floors[i])
            for i in range(len(SCALES))
        ]
        if (
            self.debounce.last_ts is not None
            and epoch - self.debounce.last_ts > 1.5 * cfg.bin_seconds
        ):
            self.streaks = [0] * len(SCALES)
        self.streaks = [
            n + 1 if hot else 0 for n, hot in zip(self.streaks, hot_scales, strict=True)
        ]
        sustained = [n >= k for n, k in zip(self.streaks, cfg.scale_persist_bins, strict=True)]
        short_ok = counts[0] >= cfg.min_count and ratios[0] >= cfg.min_ratio
        burst = short_ok and zs[0] >= max(cfg.z_burst * penalty, floors[0])
        confirmed = short_ok and z_day >= cfg.z_day and zs[0] >= cfg.z_sustain * penalty
        score = max(z * cfg.z_sustain / t for z, t in zip(zs, cfg.scale_z, strict=True))
        fire = self.debounce.step(
            epoch,
            hot=credible and any(sustained),
            burst=credible and (burst or confirmed),
            calm=max(zs) < cfg.rearm_z,
            k=1,
            cooldown_s=cfg.cooldown_minutes * 60,
            max_gap_s=1.5 * cfg.bin_seconds,
            calm_k=cfg.rearm_bins,
        )
        if credible:
            self._roll_day(epoch, zs)
        for count, base in zip(counts[:3], self.baselines[:3], strict=True):
            base.update(epoch, count)
        self._learn_shift(epoch, counts[3])
        counted = self.counts.update(ts, value, expected_lift=lift)
        slow = self._sustained(ts, value, negatives, lift)
        if not fire:
            if counted is None or self._in_episode(epoch):
                if slow is not None:
                    _mark_fired(self.debounce, epoch)
                    _mark_fired(self.counts.debounce, epoch)
                return slow
            _mark_fired(self.debounce, epoch)
            self._restart_sustained(paged=True)
            return replace(counted, details={**counted.details, "model": "counts"})
        _mark_fired(self.counts.debounce, epoch)
        self._restart_sustained(paged=True)
        details: dict[str, Any] = {
            f"z_{name}": round(z, 3) for name, z in zip(SCALES, zs, strict=True)
        }
        details.update(
            ratio=round(ratios[0], 3),
            ratio_long=round(ratios[2], 3),
            window_minutes=cfg.window_minutes,
            expected_lift=lift,
            surprise_floor=round(max(floors), 3),
            z_day=round(z_day, 3),
            confirmed=confirmed and not burst,
            hot=[name for name, hot in zip(SCALES, sustained, strict=True) if hot],
        )
        return Alert(
            ts=from_epoch(epoch),
            rule=RULE,
            score=round(score, 3),
            value=counts[0],
            baseline=round(expected, 3),
            details=details,
        )

    def _sustained(
        self, ts: datetime, value: float, negatives: float | None, lift: float
    ) -> Alert | None:
        """Feed the sustained-rise watches; return the first page, naming its measure."""
        rising = self.sustained.update(ts, value, expected_lift=lift)
        fed = negatives is not None
        souring = self.souring.update(ts, negatives or 0.0, expected_lift=lift) if fed else None
        alert, measure = (rising, "volume") if rising is not None else (souring, "negatives")
        if alert is None and not self._in_episode(to_epoch(ts)):
            return None
        self._restart_sustained()  # after its page, or a spike path paged this episode
        if alert is None or self._in_episode(to_epoch(ts)):
            return None
        return replace(alert, details={**alert.details, "measure": measure})

    def _restart_sustained(self, *, paged: bool = False) -> None:
        self.sustained.reset(paged=paged)
        self.souring.reset(paged=paged)

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict (persist it between restarts)."""
        nested = ("baseline", "counts", "sustained")
        return {
            "config": {k: v for k, v in asdict(self.config).items() if k not in nested},
            **{name: base.to_dict() for name, base in zip(SCALES, self.baselines, strict=True)},
            "debounce": self.debounce.to_dict(),
            "window": list(self.window),
            "last_ts": self.last_ts,
            "day": self.day,
            "day_peak": list(self.day_peak),
            "peaks": [list(p) for p in self.peaks],
            "pending": [list(p) for p in self.pending],
            "streaks": list(self.streaks),
            "daily": self.daily.to_dict(),
            "counts": self.counts.to_dict(),
            "sustained": self.sustained.to_dict(),
            "souring": self.souring.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: SpikeConfig | None = None) -> SpikeDetector:
        """Restore from `to_dict` output; `config` overrides the stored one when given.

        State saved before the mid and shift scales existed, or with another shift
        window, restores too: those scales start learning afresh and their past daily
        peaks are taken from the nearest scale.
        """
        stored = data["config"]
        if config is None:
            base_cfg = BaselineConfig(**data["short"]["config"])
            counts = data.get("counts")
            count_cfg = CountDetector.from_dict(counts).config if counts else CountConfig()
            slow_cfg = SustainedDetector.from_dict(data.get("sustained")).config
            config = SpikeConfig(**stored, baseline=base_cfg, counts=count_cfg, sustained=slow_cfg)
        det = cls(config)
        if "counts" in data:
            det.counts = CountDetector.from_dict(data["counts"], config.counts)
        det.sustained = SustainedDetector.from_dict(data.get("sustained"), config.sustained)
        det.souring = SustainedDetector.from_dict(data.get("souring"), config.sustained)
        det.short = SeasonalBaseline.from_dict(data["short"], config.baseline)
        det.long = SeasonalBaseline.from_dict(data["long"], config.baseline)
        if "mid" in data:
            det.mid = SeasonalBaseline.from_dict(data["mid"], config.baseline)
        if "shift" in data and _shift_window(stored) == config.shift_window_minutes:
            det.shift = SeasonalBaseline.from_dict(data["shift"], config.shift_baseline())
            det.pending = deque((float(a), float(b)) for a, b in data.get("pending", []))
        if "daily" in data and DailyConfig(**data["daily"]["config"]) == config.daily():
            det.daily = DayOverDay.from_dict(data["daily"])
        det.debounce = Debounce.from_dict(data["debounce"])
        det.streaks = [int(v) for v in data.get("streaks", [])] or [0] * len(SCALES)
        det.window = [float(v) for v in data["window"]][-config.shift_window_bins :]
        det.last_ts = None if data["last_ts"] is None else float(data["last_ts"])
        det.day = int(data["day"])
        det.day_peak = _per_scale(data["day_peak"])
        det.peaks = [_per_scale(p) for p in data["peaks"]]
        return det


def _mark_fired(debounce: Debounce, epoch: float) -> None:
    """Record a page of the other path, so one episode pages once."""
    debounce.last_fire = epoch
    debounce.armed = False
    debounce.streak = 0


def rolling_count(window: list[float], bins: int, *, trim_peak: bool = False) -> float:
    """Return the count over the last `bins` bins, scaled up while fewer are known.

    With `trim_peak`, the largest bin is left out and the rest scaled to `bins`, so the
    count measures how broad a rise is rather than how tall its highest bin was.
    """
    recent = window[-bins:]
    if not recent:
        return 0.0
    if trim_peak and len(recent) > 1:
        return (sum(recent) - max(recent)) * bins / (len(recent) - 1)
    return sum(recent) * bins / len(recent)


def _shift_window(stored: dict[str, Any]) -> float:
    """Return the shift window (minutes) a stored state was learned with."""
    return float(stored.get("shift_window_minutes", stored.get(LEGACY_SHIFT_KEY, 60.0)))


def _per_scale(values: list[float]) -> list[float]:
    """Return one value per scale, filling a legacy (short, long) pair as (s, s, l, l)."""
    vals = [float(v) for v in values]
    if len(vals) == 2:
        vals = [vals[0], vals[0], vals[1], vals[1]]
    return vals
