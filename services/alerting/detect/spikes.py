"""Online volume-spike detector: one bin at a time, seasonal robust baseline, one page per spike.

The statistic is the count over a rolling `window_minutes` window (so thresholds mean the
same thing for 1-minute and 5-minute bins), compared in sqrt space with the seasonal
baseline of that same rolling count. A bin is *hot* when the robust z passes `z_sustain`,
the count passes the `min_count` floor and the `min_ratio` lift over expected; an alert
fires after `persist_minutes` of hot bins, or at once when z passes `z_burst`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from services.alerting.detect._debounce import Debounce
from services.alerting.detect.alert import Alert, from_epoch, to_epoch
from services.alerting.detect.baseline import BaselineConfig, SeasonalBaseline

RULE = "volume_spike"


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    """Thresholds of the volume-spike rule; durations are wall-clock, not bins."""

    bin_seconds: int = 60
    window_minutes: float = 5.0
    long_window_minutes: float = 60.0
    z_sustain: float = 5.0
    z_burst: float = 9.0
    z_long: float = 6.0
    surprise_factor: float = 6.0
    peak_memory_days: int = 14
    noise_peak_z: float = 3.0
    persist_minutes: float = 10.0
    min_count: float = 15.0
    min_ratio: float = 2.0
    cooldown_minutes: float = 360.0
    rearm_z: float = 2.0
    warmup_hours: float = 6.0
    unlearned_penalty: float = 0.5
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    @property
    def window_bins(self) -> int:
        """Bins in the rolling count window."""
        return max(1, round(self.window_minutes * 60 / self.bin_seconds))

    @property
    def long_window_bins(self) -> int:
        """Bins in the rolling long (sustained-rise) window."""
        return max(self.window_bins, round(self.long_window_minutes * 60 / self.bin_seconds))

    @property
    def persist_bins(self) -> int:
        """Consecutive hot bins needed before a sustained alert."""
        return max(1, math.ceil(self.persist_minutes * 60 / self.bin_seconds))


# Tuned once on the NAB realTweets dev series, for plateaus rather than peaks; the
# dataclass defaults are `balanced`.
_PRESETS: dict[str, dict[str, float]] = {
    "sensitive": {
        "z_sustain": 4.5,
        "z_burst": 8.0,
        "z_long": 5.0,
        "surprise_factor": 3.0,
        "min_ratio": 1.6,
        "min_count": 10.0,
    },
    "balanced": {},
    "strict": {
        "z_sustain": 6.0,
        "z_burst": 11.0,
        "z_long": 7.0,
        "surprise_factor": 8.0,
        "min_ratio": 2.5,
        "min_count": 25.0,
        "cooldown_minutes": 720.0,
    },
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)


def preset(name: str = "balanced", *, bin_seconds: int = 60) -> SpikeConfig:
    """Return the named sensitivity preset (`sensitive`, `balanced`, `strict`) for a bin size."""
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    base = SpikeConfig(bin_seconds=bin_seconds)
    base = replace(base, baseline=replace(base.baseline, bin_seconds=bin_seconds))
    return replace(base, **_PRESETS[name])  # type: ignore[arg-type]


class SpikeDetector:
    """Volume-spike detector for one series (a brand, or a brand and topic)."""

    def __init__(self, config: SpikeConfig | None = None) -> None:
        self.config = config or SpikeConfig()
        self.short = SeasonalBaseline(self.config.baseline)
        self.long = SeasonalBaseline(self.config.baseline)
        self.debounce = Debounce()
        self.window: list[float] = []
        self.last_ts: float | None = None
        self.day = -1
        self.day_peak = [0.0, 0.0]
        self.peaks: list[list[float]] = []

    def _surprise_floor(self, scale: int) -> float:
        """Return the z this series must beat given its own recent daily peaks.

        A brand whose volume jumps tenfold every day is not in crisis when it does so
        again: the bar is `surprise_factor` times the median daily peak z of the last
        `peak_memory_days` days (scale 0 short window, 1 long window).
        """
        cfg = self.config
        if cfg.surprise_factor <= 0 or len(self.peaks) < 3:
            return 0.0
        typical = statistics.median(p[scale] for p in self.peaks)
        base = cfg.z_sustain if scale == 0 else cfg.z_long
        return base + cfg.surprise_factor * max(0.0, typical - cfg.noise_peak_z)

    def _roll_day(self, epoch: float, z: float, z_long: float) -> None:
        day = int(epoch // 86400)
        if day != self.day:
            if self.day >= 0:
                self.peaks = [*self.peaks, self.day_peak][-self.config.peak_memory_days :]
            self.day, self.day_peak = day, [0.0, 0.0]
        self.day_peak = [max(self.day_peak[0], z), max(self.day_peak[1], z_long)]

    def update(self, ts: datetime, value: float, *, expected_lift: float = 1.0) -> Alert | None:
        """Score the bin ending at `ts`, learn from it, and return an alert if one fires.

        `expected_lift` (>= 1 for a planned campaign) multiplies the expected volume for
        this bin; lifted volume is not learned as the new normal, and the alert's `value`
        and `baseline` are in lift-normalised counts over `window_minutes`. Bins at or
        before the last seen timestamp are ignored, so a replayed bin is a no-op.
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
        del self.window[: -cfg.long_window_bins]
        short_n = min(cfg.window_bins, len(self.window))
        count = sum(self.window[-short_n:]) * cfg.window_bins / short_n
        long_count = sum(self.window) * cfg.long_window_bins / len(self.window)

        mu, sigma = self.short.expected(epoch)
        z = (math.sqrt(count) - mu) / sigma
        mu_l, sigma_l = self.long.expected(epoch)
        z_long = (math.sqrt(long_count) - mu_l) / sigma_l
        expected = mu * mu
        ratio = count / max(expected, 1.0)
        ratio_long = long_count / max(mu_l * mu_l, 1.0)

        credible = self.short.history_hours >= cfg.warmup_hours
        penalty = 1.0 + cfg.unlearned_penalty * (1.0 - self.short.maturity(epoch))
        surprise = self._surprise_floor(0)
        surprise_long = self._surprise_floor(1)
        short_ok = count >= cfg.min_count and ratio >= cfg.min_ratio
        long_ok = long_count >= 2 * cfg.min_count and ratio_long >= cfg.min_ratio
        score = max(z, z_long * cfg.z_sustain / cfg.z_long)
        hot_short = short_ok and z >= max(cfg.z_sustain * penalty, surprise)
        hot_long = long_ok and z_long >= max(cfg.z_long * penalty, surprise_long)
        burst = short_ok and z >= max(cfg.z_burst * penalty, surprise)
        fire = self.debounce.step(
            epoch,
            hot=credible and (hot_short or hot_long),
            burst=credible and burst,
            calm=max(z, z_long) < cfg.rearm_z,
            k=cfg.persist_bins,
            cooldown_s=cfg.cooldown_minutes * 60,
            max_gap_s=1.5 * cfg.bin_seconds,
        )
        if credible:
            self._roll_day(epoch, z, z_long)
        self.short.update(epoch, count)
        self.long.update(epoch, long_count)
        if not fire:
            return None
        return Alert(
            ts=from_epoch(epoch),
            rule=RULE,
            score=round(score, 3),
            value=count,
            baseline=round(expected, 3),
            details={
                "z_short": round(z, 3),
                "z_long": round(z_long, 3),
                "ratio": round(ratio, 3),
                "ratio_long": round(ratio_long, 3),
                "window_minutes": cfg.window_minutes,
                "expected_lift": lift,
                "surprise_floor": round(max(surprise, surprise_long), 3),
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict (persist it between restarts)."""
        return {
            "config": {k: v for k, v in asdict(self.config).items() if k != "baseline"},
            "short": self.short.to_dict(),
            "long": self.long.to_dict(),
            "debounce": self.debounce.to_dict(),
            "window": list(self.window),
            "last_ts": self.last_ts,
            "day": self.day,
            "day_peak": list(self.day_peak),
            "peaks": [list(pair) for pair in self.peaks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: SpikeConfig | None = None) -> SpikeDetector:
        """Restore from `to_dict` output; `config` overrides the stored one when given."""
        if config is None:
            base_cfg = BaselineConfig(**data["short"]["config"])
            config = SpikeConfig(**data["config"], baseline=base_cfg)
        det = cls(config)
        det.short = SeasonalBaseline.from_dict(data["short"], config.baseline)
        det.long = SeasonalBaseline.from_dict(data["long"], config.baseline)
        det.debounce = Debounce.from_dict(data["debounce"])
        det.window = [float(v) for v in data["window"]]
        det.last_ts = None if data["last_ts"] is None else float(data["last_ts"])
        det.day = int(data["day"])
        det.day_peak = [float(v) for v in data["day_peak"]]
        det.peaks = [[float(v) for v in pair] for pair in data["peaks"]]
        return det
