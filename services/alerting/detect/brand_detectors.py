"""The detectors of one brand and their `detector_state` rows.

A brand has a volume detector per series (the brand itself and each crisis topic), with the
last minutes of each series for the author gate, and brand-wide negative-share,
emotion-burst and engagement-velocity detectors. The engine owns the brands; this module
builds, exports and restores one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from services.alerting.detect.bins import BRAND_TOPIC, Bin
from services.alerting.detect.ratios import (
    EMOTION_BURST,
    NEGATIVE_SHARE,
    ShareSurgeDetector,
    emotion_burst_detector,
    negative_share_detector,
)
from services.alerting.detect.spikes import SpikeConfig, SpikeDetector
from services.alerting.detect.state_keys import split_key, state_key
from services.alerting.detect.velocity import VelocityConfig, VelocityDetector

SPIKE = "volume_spike"
VELOCITY = "engagement_velocity"


@dataclass(slots=True)
class Series:
    """One watched series: its volume detector and its last minutes (the gate window)."""

    spike: SpikeDetector
    recent: deque[Bin]
    calm: int = 0


@dataclass(slots=True)
class BrandDetectors:
    """Every detector of one brand."""

    name: str
    series: dict[str, Series]
    neg_share: ShareSurgeDetector
    emotion: ShareSurgeDetector
    velocity: VelocityDetector
    keyword_last: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fresh(
        cls, name: str, topics: tuple[str, ...], *, spike: SpikeConfig, gate_bins: int
    ) -> BrandDetectors:
        """New detectors for the brand series and each of `topics`."""
        bs = spike.bin_seconds
        return cls(
            name=name,
            series={t: new_series(spike, gate_bins) for t in (BRAND_TOPIC, *topics)},
            neg_share=negative_share_detector(bs),
            emotion=emotion_burst_detector(bs),
            velocity=VelocityDetector(VelocityConfig(bin_seconds=bs)),
        )

    def export(self) -> dict[str, dict[str, Any]]:
        """The detectors' `detector_state` rows (key -> JSON-ready dict)."""
        rows = {state_key(self.name, t, SPIKE): s.spike.to_dict() for t, s in self.series.items()}
        rows[state_key(self.name, BRAND_TOPIC, NEGATIVE_SHARE)] = self.neg_share.to_dict()
        rows[state_key(self.name, BRAND_TOPIC, EMOTION_BURST)] = self.emotion.to_dict()
        rows[state_key(self.name, BRAND_TOPIC, VELOCITY)] = self.velocity.to_dict()
        return rows

    def export_windows(self) -> dict[str, Any]:
        """The series' recent minutes, calm counts and keyword cooldowns."""
        return {
            "recent": {
                t: [b.to_dict() for b in s.recent] for t, s in self.series.items() if s.recent
            },
            "calm": {t: s.calm for t, s in self.series.items() if s.calm},
            "keyword_last": dict(self.keyword_last),
        }

    def load(self, rows: dict[str, dict[str, Any]], *, spike: SpikeConfig, gate_bins: int) -> None:
        """Restore detectors from `export` rows with the current configs; ignore other rows."""
        bs = spike.bin_seconds
        for key, data in rows.items():
            _, topic, rule = split_key(key)
            if rule == SPIKE:
                self.series_of(topic, spike, gate_bins).spike = SpikeDetector.from_dict(
                    data, config=spike
                )
            elif rule == NEGATIVE_SHARE:
                cfg = negative_share_detector(bs).config
                self.neg_share = ShareSurgeDetector.from_dict(data, config=cfg)
            elif rule == EMOTION_BURST:
                cfg = emotion_burst_detector(bs).config
                self.emotion = ShareSurgeDetector.from_dict(data, config=cfg)
            elif rule == VELOCITY:
                self.velocity = VelocityDetector.from_dict(
                    data, config=VelocityConfig(bin_seconds=bs)
                )

    def load_windows(self, stored: dict[str, Any], *, spike: SpikeConfig, gate_bins: int) -> None:
        """Restore what `export_windows` saved."""
        for topic, raw in stored.get("recent", {}).items():
            self.series_of(topic, spike, gate_bins).recent.extend(Bin.from_dict(b) for b in raw)
        for topic, calm in stored.get("calm", {}).items():
            self.series_of(topic, spike, gate_bins).calm = int(calm)
        self.keyword_last = {k: float(v) for k, v in stored.get("keyword_last", {}).items()}

    def series_of(self, topic: str, spike: SpikeConfig, gate_bins: int) -> Series:
        """The topic's series, created on first use."""
        series = self.series.get(topic)
        if series is None:
            series = self.series[topic] = new_series(spike, gate_bins)
        return series


def new_series(spike: SpikeConfig, gate_bins: int) -> Series:
    """A fresh series with the given volume-spike config."""
    return Series(SpikeDetector(spike), deque(maxlen=gate_bins))
