"""Day-over-day volume: how far the last hours sit above the same hours on recent days.

Counts are summed into fixed wall-clock slots. When a slot closes, the count over the
last `window_hours` is compared in log space with the median of the same hours on each of
the previous `days` days, and that log ratio is divided by the series' own typical
day-over-day swing (an exponentially weighted mean absolute ratio, winsorised so one
busy day cannot teach the series that busy days are normal). A brand whose volume wobbles
by half from day to day needs a larger rise than one whose days are near copies.
The swing is learned once `min_days` earlier days are known, and the z stays 0 until
all `days` of them are known and the swing has been learned for `settle_days`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from services.alerting.detect.alert import half_life_alpha

_DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class DailyConfig:
    """Window, memory and robustness of the day-over-day comparison."""

    window_hours: float = 12.0
    days: int = 7
    min_days: int = 3
    settle_days: float = 2.0
    slot_minutes: float = 15.0
    scale_half_life_days: float = 7.0
    prior_per_hour: float = 12.0  # pseudo-count, so a handful of mentions is no swing
    clip: float = 4.0
    min_scale: float = 0.05

    @property
    def day_slots(self) -> int:
        """Slots per day (the slot length is rounded so a day holds a whole number)."""
        return max(1, round(1440 / self.slot_minutes))

    @property
    def slot_seconds(self) -> float:
        """Length of one slot in seconds."""
        return _DAY_S / self.day_slots

    @property
    def window_slots(self) -> int:
        """Slots in the compared window."""
        return max(1, round(self.window_hours * 3600 / self.slot_seconds))


class DayOverDay:
    """Online day-over-day z of the recent hours' volume for one series."""

    def __init__(self, config: DailyConfig | None = None) -> None:
        self.config = config or DailyConfig()
        self.slots: dict[int, float] = {}
        self.current: int | None = None
        self.first: int | None = None
        self.scale = 0.0
        self.learned = 0
        self.z = 0.0
        cfg = self.config
        self._alpha = half_life_alpha(cfg.scale_half_life_days * cfg.day_slots)

    def update(self, epoch: float, value: float) -> float:
        """Add one bin's count at `epoch`; return the z of the last closed slot."""
        slot = int(epoch // self.config.slot_seconds)
        if self.current is None:
            self.current = self.first = slot
        elif slot > self.current:
            self._close(self.current)
            self.current = slot
        elif slot < self.current:
            return self.z  # out of order: the slot it belongs to is closed
        self.slots[slot] = self.slots.get(slot, 0.0) + max(0.0, value)
        return self.z

    def _close(self, slot: int) -> None:
        cfg = self.config
        span, day = cfg.window_slots, cfg.day_slots
        keep_from = slot - cfg.days * day - span + 1
        self.slots = {k: v for k, v in self.slots.items() if k >= keep_from}
        first = self.first if self.first is not None else slot
        past_ends = [
            end for d in range(1, cfg.days + 1) if (end := slot - d * day) - span + 1 >= first
        ]
        if len(past_ends) < max(1, cfg.min_days):
            return
        prior = cfg.prior_per_hour * cfg.window_hours
        now = math.log(self._sum(slot, span) + prior)
        typical = statistics.median(math.log(self._sum(end, span) + prior) for end in past_ends)
        ratio = now - typical
        settled = self.learned >= cfg.settle_days * day and len(past_ends) == cfg.days
        self.z = ratio / max(cfg.min_scale, self.scale) if settled else 0.0
        # Until settled, a plain running mean: the first swings seen must not dominate.
        self.learned += 1
        bound = cfg.clip * self.scale if self.learned > day else math.inf
        step = max(1.0 / self.learned, self._alpha)
        self.scale += step * (min(bound, abs(ratio)) - self.scale)

    def _sum(self, end: int, span: int) -> float:
        return sum(self.slots.get(k, 0.0) for k in range(end - span + 1, end + 1))

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict."""
        return {
            "config": asdict(self.config),
            "slots": [[k, v] for k, v in sorted(self.slots.items())],
            "current": self.current,
            "first": self.first,
            "scale": self.scale,
            "learned": self.learned,
            "z": self.z,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: DailyConfig | None = None) -> DayOverDay:
        """Restore from `to_dict` output; `config` overrides the stored one when given."""
        det = cls(config or DailyConfig(**data["config"]))
        det.slots = {int(k): float(v) for k, v in data["slots"]}
        det.current = None if data["current"] is None else int(data["current"])
        det.first = None if data["first"] is None else int(data["first"])
        det.scale = float(data["scale"])
        det.learned = int(data["learned"])
        det.z = float(data["z"])
        return det
