"""Settings of the volume-spike rule (`detect.spikes`) and its sensitivity presets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from services.alerting.detect.baseline import BaselineConfig
from services.alerting.detect.counts import CountConfig
from services.alerting.detect.counts import preset as count_preset
from services.alerting.detect.daily import DailyConfig
from services.alerting.detect.sustained import SustainedConfig
from services.alerting.detect.sustained import preset as sustained_preset

RULE = "volume_spike"
SCALES: tuple[str, ...] = ("short", "mid", "long", "shift")
# Count floor of each scale as a multiple of `min_count` (the short-window floor).
FLOOR_MULT = (1.0, 1.5, 2.0, 4.0)
# Scales whose count leaves out the window's largest bin. The long scale stands for
# sustained rises: one burst bin sliding through its window would otherwise keep it hot
# for its whole persistence and page an hour after a burst the short scale judged
# ordinary for this series (bursts are the short scale's job, with their own bar).
TRIM_PEAK = (False, False, True, False)
# Legacy state predates `shift_window_minutes`: its shift scale used the long window.
LEGACY_SHIFT_KEY = "long_window_minutes"


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    """Thresholds of the volume-spike rule; durations are wall-clock, not bins."""

    bin_seconds: int = 60
    window_minutes: float = 5.0
    mid_window_minutes: float = 15.0
    long_window_minutes: float = 60.0
    shift_window_minutes: float = 360.0
    z_sustain: float = 5.0
    z_burst: float = 9.0
    z_mid: float = 5.5
    z_long: float = 6.0
    z_shift: float = 8.0
    shift_level_half_life_hours: float = 48.0
    shift_guard_hours: float = 12.0
    surprise_factor: float = 6.0
    peak_memory_days: int = 14
    noise_peak_z: float = 3.0
    prior_peak_z: float = 5.0
    peak_credible_days: float = 3.0
    persist_minutes: float = 10.0
    long_persist_minutes: float = 60.0
    min_count: float = 15.0
    min_ratio: float = 2.0
    cooldown_minutes: float = 360.0
    rearm_z: float = 2.0
    rearm_minutes: float = 120.0
    warmup_hours: float = 6.0
    unlearned_penalty: float = 0.5
    z_day: float = 3.0
    day_window_hours: float = 12.0
    day_history_days: int = 7
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    counts: CountConfig = field(default_factory=CountConfig)
    sustained: SustainedConfig = field(default_factory=SustainedConfig)

    @property
    def window_bins(self) -> int:
        """Bins in the rolling count window."""
        return max(1, round(self.window_minutes * 60 / self.bin_seconds))

    @property
    def mid_window_bins(self) -> int:
        """Bins in the rolling mid (short-surge) window."""
        return max(self.window_bins, round(self.mid_window_minutes * 60 / self.bin_seconds))

    @property
    def long_window_bins(self) -> int:
        """Bins in the rolling long (sustained-rise) window."""
        return max(self.mid_window_bins, round(self.long_window_minutes * 60 / self.bin_seconds))

    @property
    def shift_window_bins(self) -> int:
        """Bins in the rolling level-shift window."""
        return max(self.long_window_bins, round(self.shift_window_minutes * 60 / self.bin_seconds))

    @property
    def rearm_bins(self) -> int:
        """Consecutive calm bins needed before the detector may page again."""
        return max(1, math.ceil(self.rearm_minutes * 60 / self.bin_seconds))

    @property
    def persist_bins(self) -> int:
        """Consecutive hot bins needed before a sustained alert."""
        return max(1, math.ceil(self.persist_minutes * 60 / self.bin_seconds))

    @property
    def scale_persist_bins(self) -> tuple[int, ...]:
        """Consecutive hot bins each scale in `SCALES` needs before it alerts."""
        long_k = max(1, math.ceil(self.long_persist_minutes * 60 / self.bin_seconds))
        return (self.persist_bins, self.persist_bins, long_k, long_k)

    @property
    def scale_bins(self) -> tuple[int, ...]:
        """Rolling-window length in bins of each scale in `SCALES`."""
        return (
            self.window_bins,
            self.mid_window_bins,
            self.long_window_bins,
            self.shift_window_bins,
        )

    @property
    def scale_z(self) -> tuple[float, ...]:
        """Base z threshold of each scale in `SCALES`."""
        return (self.z_sustain, self.z_mid, self.z_long, self.z_shift)

    def daily(self) -> DailyConfig:
        """Config of the day-over-day comparison behind the `confirmed` rule."""
        return DailyConfig(window_hours=self.day_window_hours, days=self.day_history_days)

    def shift_baseline(self) -> BaselineConfig:
        """Baseline config of the level-shift scale: the same, with a slow level."""
        return replace(self.baseline, level_half_life_hours=self.shift_level_half_life_hours)


# Tuned once on the NAB realTweets dev series (checked leave-one-series-out), for
# plateaus rather than peaks; the dataclass defaults are `balanced`.
_PRESETS: dict[str, dict[str, float]] = {
    "sensitive": {
        "z_sustain": 4.5,
        "z_burst": 8.0,
        "z_mid": 5.0,
        "z_long": 5.0,
        "z_shift": 7.5,
        "long_persist_minutes": 30.0,
        "surprise_factor": 3.0,
        "min_ratio": 1.6,
        "min_count": 10.0,
    },
    "balanced": {},
    "strict": {
        "z_sustain": 6.0,
        "z_burst": 11.0,
        "z_mid": 6.5,
        "z_long": 7.0,
        "z_shift": 9.0,
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
    base = replace(
        base,
        baseline=replace(base.baseline, bin_seconds=bin_seconds),
        counts=count_preset(name, bin_seconds=bin_seconds),
        sustained=sustained_preset(name, bin_seconds=bin_seconds),
    )
    return replace(base, **_PRESETS[name])  # type: ignore[arg-type]
