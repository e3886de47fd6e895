"""Share-surge detectors: negative share and emotion burst (anger + fear) against a baseline.

Each bin brings `part` (negative posts, or anger+fear posts) and `total` (scored posts).
The share over a rolling window is compared with a slow, winsorised baseline share using a
binomial z; floors on both counts keep a handful of angry posts on a quiet day silent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from services.alerting.detect._debounce import Debounce
from services.alerting.detect.alert import Alert, from_epoch, half_life_alpha, to_epoch

NEGATIVE_SHARE = "negative_share"
EMOTION_BURST = "emotion_burst"
BURST_EMOTIONS: tuple[str, ...] = ("anger", "fear")


@dataclass(frozen=True, slots=True)
class ShareConfig:
    """Thresholds of a share-surge rule."""

    rule: str = NEGATIVE_SHARE
    bin_seconds: int = 60
    window_minutes: float = 15.0
    half_life_hours: float = 24.0
    z_threshold: float = 4.0
    min_ratio: float = 1.5
    min_part: float = 10.0
    min_total: float = 20.0
    min_share: float = 0.02  # floor on the baseline share so a zero baseline cannot explode z
    persist_minutes: float = 5.0
    cooldown_minutes: float = 180.0
    warmup_total: float = 200.0
    clip_z: float = 3.0

    @property
    def window_bins(self) -> int:
        """Bins in the rolling window."""
        return max(1, round(self.window_minutes * 60 / self.bin_seconds))

    @property
    def persist_bins(self) -> int:
        """Consecutive hot bins needed before an alert."""
        return max(1, math.ceil(self.persist_minutes * 60 / self.bin_seconds))


class ShareSurgeDetector:
    """Online detector of a share (part / total) rising well above its usual level."""

    def __init__(self, config: ShareConfig | None = None) -> None:
        self.config = config or ShareConfig()
        self.part_avg = 0.0
        self.total_avg = 0.0
        self.seen_total = 0.0
        self.window: list[tuple[float, float]] = []
        self.debounce = Debounce()
        self.last_ts: float | None = None

    def baseline_share(self) -> float:
        """Return the learned share, floored at `min_share`."""
        share = self.part_avg / self.total_avg if self.total_avg > 0 else 0.0
        return min(0.99, max(self.config.min_share, share))

    def update(self, ts: datetime, part: float, total: float) -> Alert | None:
        """Score the bin ending at `ts` (`part` of `total` posts) and learn from it."""
        cfg = self.config
        epoch = to_epoch(ts)
        if self.last_ts is not None and epoch <= self.last_ts:
            return None
        self.last_ts = epoch
        total = max(0.0, total) if math.isfinite(total) else 0.0
        part = min(total, max(0.0, part)) if math.isfinite(part) else 0.0
        self.window.append((part, total))
        del self.window[: -cfg.window_bins]
        w_part = sum(p for p, _ in self.window)
        w_total = sum(t for _, t in self.window)

        p0 = self.baseline_share()
        share = w_part / w_total if w_total > 0 else 0.0
        z = (share - p0) / math.sqrt(p0 * (1 - p0) / w_total) if w_total > 0 else 0.0
        ratio = share / p0
        credible = self.seen_total >= cfg.warmup_total
        hot = (
            credible
            and w_part >= cfg.min_part
            and w_total >= cfg.min_total
            and ratio >= cfg.min_ratio
            and z >= cfg.z_threshold
        )
        fire = self.debounce.step(
            epoch,
            hot=hot,
            burst=False,
            calm=z < cfg.z_threshold / 2,
            k=cfg.persist_bins,
            cooldown_s=cfg.cooldown_minutes * 60,
            max_gap_s=1.5 * cfg.bin_seconds,
        )
        self._learn(part, total, p0)
        if not fire:
            return None
        return Alert(
            ts=from_epoch(epoch),
            rule=cfg.rule,
            score=round(z, 3),
            value=round(share, 4),
            baseline=round(p0, 4),
            details={"ratio": round(ratio, 3), "part": w_part, "total": w_total},
        )

    def _learn(self, part: float, total: float, p0: float) -> None:
        """Update the baseline with this bin, clipping its share to `clip_z` binomial sigmas."""
        cfg = self.config
        if total <= 0:
            return
        if self.seen_total >= cfg.warmup_total:
            cap = p0 + cfg.clip_z * math.sqrt(p0 * (1 - p0) / total)
            part = min(part, total * min(1.0, cap))
        alpha = half_life_alpha(cfg.half_life_hours * 3600 / cfg.bin_seconds)
        if self.seen_total < cfg.warmup_total:
            alpha = max(alpha, total / (self.seen_total + total))
        self.part_avg += alpha * (part - self.part_avg)
        self.total_avg += alpha * (total - self.total_avg)
        self.seen_total += total

    def to_dict(self) -> dict[str, Any]:
        """Return config and state as a JSON-ready dict."""
        return {
            "config": asdict(self.config),
            "part_avg": self.part_avg,
            "total_avg": self.total_avg,
            "seen_total": self.seen_total,
            "window": [list(pair) for pair in self.window],
            "debounce": self.debounce.to_dict(),
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], config: ShareConfig | None = None
    ) -> ShareSurgeDetector:
        """Restore from `to_dict` output; `config` overrides the stored one when given."""
        det = cls(config or ShareConfig(**data["config"]))
        det.part_avg = float(data["part_avg"])
        det.total_avg = float(data["total_avg"])
        det.seen_total = float(data["seen_total"])
        det.window = [(float(p), float(t)) for p, t in data["window"]]
        det.debounce = Debounce.from_dict(data["debounce"])
        det.last_ts = None if data["last_ts"] is None else float(data["last_ts"])
        return det


def negative_share_detector(bin_seconds: int = 60) -> ShareSurgeDetector:
    """Return a detector for the share of negative posts."""
    return ShareSurgeDetector(ShareConfig(rule=NEGATIVE_SHARE, bin_seconds=bin_seconds))


def emotion_burst_detector(bin_seconds: int = 60) -> ShareSurgeDetector:
    """Return a detector for the share of anger + fear posts (rarer, so a lower floor)."""
    return ShareSurgeDetector(
        ShareConfig(rule=EMOTION_BURST, bin_seconds=bin_seconds, min_part=8.0, min_ratio=2.0)
    )


def burst_count(emotions: list[str | None]) -> int:
    """Return how many of the posts' dominant emotions are in `BURST_EMOTIONS`."""
    return sum(1 for emotion in emotions if emotion in BURST_EMOTIONS)
