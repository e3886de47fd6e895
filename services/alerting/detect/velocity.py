"""Engagement velocity: shares and replies per minute on negative posts, accelerating.

Each bin brings the reach-weighted engagement gained by negative posts in that bin (see
`weighted_engagement`). The rate is compared with its seasonal robust baseline and with
the previous window, so the rule fires when spread is both unusual and still speeding up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from services.alerting.detect._debounce import Debounce
from services.alerting.detect.alert import Alert, from_epoch, to_epoch
from services.alerting.detect.baseline import BaselineConfig, SeasonalBaseline

RULE = "engagement_velocity"


def reach_weight(author_reach: int | None) -> float:
    """Return 1 for unknown or small authors, growing by 1 per decade of reach above 1,000."""
    if not author_reach or author_reach <= 1000:
        return 1.0
    return 1.0 + math.log10(author_reach / 1000)


def weighted_engagement(shares: int, replies: int, author_reach: int | None) -> float:
    """Return one post's spread (shares + replies) weighted by its author's reach."""
    return max(0, shares + replies) * reach_weight(author_reach)


@dataclass(frozen=True, slots=True)
class VelocityConfig:
    """Thresholds of the engagement-velocity rule."""

    bin_seconds: int = 60
    window_minutes: float = 10.0
    z_threshold: float = 5.0
    min_rate_per_minute: float = 5.0
    min_ratio: float = 3.0
    min_acceleration: float = 1.3
    persist_minutes: float = 3.0
    cooldown_minutes: float = 180.0
    warmup_hours: float = 6.0
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    @property
    def window_bins(self) -> int:
        """Bins in each of the two compared windows."""
        return max(1, round(self.window_minutes * 60 / self.bin_seconds))


class VelocityDetector:
    """Online detector of accelerating, unusually fast engagement on negative posts."""

    def __init__(self, config: VelocityConfig | None = None) -> None:
        self.config = config or VelocityConfig()
        self.baseline = SeasonalBaseline(self.config.baseline)
        self.window: list[float] = []
        self.debounce = Debounce()
        self.last_ts: float | None = None

    def update(self, ts: datetime, engagement: float) -> Alert | None:
        """Score the bin ending at `ts` given its reach-weighted engagement, and learn from it."""
        cfg = self.config
        epoch = to_epoch(ts)
        if self.last_ts is not None and epoch <= self.last_ts:
            return None
        self.last_ts = epoch
        engagement = max(0.0, engagement) if math.isfinite(engagement) else 0.0
        n = cfg.window_bins
        self.window.append(engagement)
        del self.window[: -2 * n]
        current = sum(self.window[-n:])
        previous = sum(self.window[:-n])
        minutes = n * cfg.bin_seconds / 60
        rate = current / minutes
        acceleration = current / max(previous, 1.0)

        mu, sigma = self.baseline.expected(epoch)
        z = (math.sqrt(current) - mu) / sigma
        ratio = current / max(mu * mu, 1.0)
        hot = (
            self.baseline.history_hours >= cfg.warmup_hours
            and rate >= cfg.min_rate_per_minute
            and ratio >= cfg.min_ratio
            and acceleration >= cfg.min_acceleration
            and z >= cfg.z_threshold
        )
        fire = self.debounce.step(
            epoch,
            hot=hot,
            burst=False,
            calm=z < cfg.z_threshold / 2,
            k=max(1, math.ceil(cfg.persist_minutes * 60 / cfg.bin_seconds)),
            cooldown_s=cfg.cooldown_minutes * 60,
            max_gap_s=1.5 * cfg.bin_seconds,
        )
        self.baseline.update(epoch, current)
        if not fire:
            return None
        return Alert(
            ts=from_epoch(epoch),
            rule=RULE,
            score=round(z, 3),
            value=round(rate, 3),
            baseline=round(mu * mu / minutes, 3),
            details={"ratio": round(ratio, 3), "acceleration": round(acceleration, 3)},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict."""
        return {
            "config": {k: v for k, v in asdict(self.config).items() if k != "baseline"},
            "baseline": self.baseline.to_dict(),
            "window": list(self.window),
            "debounce": self.debounce.to_dict(),
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], config: VelocityConfig | None = None
    ) -> VelocityDetector:
        """Restore from `to_dict` output; `config` overrides the stored one when given."""
        if config is None:
            base_cfg = BaselineConfig(**data["baseline"]["config"])
            config = VelocityConfig(**data["config"], baseline=base_cfg)
        det = cls(config)
        det.baseline = SeasonalBaseline.from_dict(data["baseline"], config.baseline)
        det.window = [float(v) for v in data["window"]]
        det.debounce = Debounce.from_dict(data["debounce"])
        det.last_ts = None if data["last_ts"] is None else float(data["last_ts"])
        return det
