"""Seasonal, robust baseline of a count series, in square-root space.

Counts are modelled as `sqrt(count)` (variance-stabilising for Poisson-like data), as a
slow level plus an hour-of-week offset, shrunk towards an hour-of-day offset until the
week slot has about two weeks of data, and towards the plain level before that. Every
update is winsorised at `clip_z` robust sigmas, so a past spike moves the baseline by at
most a few sigmas times the learning rate and is forgotten with the level's half-life.
The state is a small JSON-ready dict, and `rebuild` replays history to recreate it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from services.alerting.detect.alert import half_life_alpha, to_epoch

_WEEK_SLOTS = 168
_DAY_SLOTS = 24
_MAD_TO_SIGMA = 1.2533  # mean absolute deviation to Gaussian sigma


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """Learning rates (as half-lives in wall-clock time) and robustness knobs."""

    bin_seconds: int = 60
    level_half_life_hours: float = 3.0
    season_half_life_weeks: float = 3.0
    scale_half_life_hours: float = 24.0
    clip_z: float = 3.0
    min_sigma: float = 0.5  # Poisson noise in sqrt space
    season_credible_periods: float = 2.0  # days (hour-of-day) or weeks (hour-of-week)

    @property
    def bins_per_hour(self) -> float:
        """Number of bins in one hour."""
        return 3600.0 / self.bin_seconds


def _slots(epoch: float) -> tuple[int, int]:
    """Return (hour-of-week, hour-of-day) of an epoch time, weeks starting Monday 00:00 UTC."""
    hours = int(epoch // 3600)
    # 1970-01-01 was a Thursday: shift by 3 days so slot 0 is Monday 00:00.
    return (hours + 72) % _WEEK_SLOTS, hours % _DAY_SLOTS


class SeasonalBaseline:
    """Online robust estimate of the expected sqrt-count and its noise for a given time."""

    def __init__(self, config: BaselineConfig | None = None) -> None:
        self.config = config or BaselineConfig()
        self.n = 0
        self.level = 0.0
        self.mad = 0.0
        self.week = [0.0] * _WEEK_SLOTS
        self.week_n = [0] * _WEEK_SLOTS
        self.day = [0.0] * _DAY_SLOTS
        self.day_n = [0] * _DAY_SLOTS
        cfg = self.config
        self._a_level = half_life_alpha(cfg.level_half_life_hours * cfg.bins_per_hour)
        self._a_scale = half_life_alpha(cfg.scale_half_life_hours * cfg.bins_per_hour)
        self._a_season = half_life_alpha(cfg.season_half_life_weeks * cfg.bins_per_hour)
        self._need = cfg.season_credible_periods * cfg.bins_per_hour

    @property
    def history_hours(self) -> float:
        """Hours of data seen so far."""
        return self.n / self.config.bins_per_hour

    def maturity(self, ts: datetime | float) -> float:
        """Return 0..1: how much of the hour-of-day profile for `ts` has been learned."""
        _, d = _slots(ts if isinstance(ts, float) else to_epoch(ts))
        return min(1.0, self.day_n[d] / self._need)

    def _offset(self, epoch: float) -> float:
        return self._offset_of(*_slots(epoch))

    def _offset_of(self, w: int, d: int) -> float:
        w_day = min(1.0, self.day_n[d] / self._need)
        w_week = min(1.0, self.week_n[w] / self._need)
        return w_week * self.week[w] + (1.0 - w_week) * w_day * self.day[d]

    def sigma(self) -> float:
        """Return the robust noise scale in sqrt space."""
        return max(self.config.min_sigma, _MAD_TO_SIGMA * self.mad)

    def expected(self, ts: datetime | float) -> tuple[float, float]:
        """Return (expected sqrt-count, sigma) for the bin at `ts`."""
        epoch = ts if isinstance(ts, float) else to_epoch(ts)
        return max(0.0, self.level + self._offset(epoch)), self.sigma()

    def update(self, ts: datetime | float, count: float) -> None:
        """Learn from one bin's count (winsorised, so spikes barely move the baseline)."""
        epoch = ts if isinstance(ts, float) else to_epoch(ts)
        y = math.sqrt(max(0.0, count))
        if self.n == 0:
            self.level = y
            self.mad = max(self.config.min_sigma, 0.1 * y) / _MAD_TO_SIGMA
            self.n = 1
            return
        w, d = _slots(epoch)
        off = self._offset_of(w, d)
        mu = max(0.0, self.level + off)  # as `expected`
        bound = self.config.clip_z * self.sigma()
        resid = min(bound, max(-bound, y - mu))
        yc = mu + resid
        warm = 1.0 / (self.n + 1)
        self.level += max(warm, self._a_level) * (yc - off - self.level)
        self.mad += max(warm, self._a_scale) * (abs(resid) - self.mad)
        detrended = yc - self.level
        self.week_n[w] += 1
        self.week[w] += max(1.0 / self.week_n[w], self._a_season) * (detrended - self.week[w])
        self.day_n[d] += 1
        self.day[d] += max(1.0 / self.day_n[d], self._a_season) * (detrended - self.day[d])
        self.n += 1

    def to_dict(self) -> dict[str, Any]:
        """Return the learned state and config as a JSON-ready dict."""
        return {
            "config": asdict(self.config),
            "n": self.n,
            "level": self.level,
            "mad": self.mad,
            "week": list(self.week),
            "week_n": list(self.week_n),
            "day": list(self.day),
            "day_n": list(self.day_n),
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], config: BaselineConfig | None = None
    ) -> SeasonalBaseline:
        """Restore from `to_dict` output; `config` overrides the stored one when given."""
        base = cls(config or BaselineConfig(**data["config"]))
        base.n = int(data["n"])
        base.level = float(data["level"])
        base.mad = float(data["mad"])
        base.week = [float(v) for v in data["week"]]
        base.week_n = [int(v) for v in data["week_n"]]
        base.day = [float(v) for v in data["day"]]
        base.day_n = [int(v) for v in data["day_n"]]
        return base

    @classmethod
    def rebuild(
        cls, points: Iterable[tuple[datetime, float]], config: BaselineConfig | None = None
    ) -> SeasonalBaseline:
        """Replay `(ts, count)` history in time order to recreate the state."""
        base = cls(config)
        for ts, count in points:
            base.update(ts, count)
        return base
