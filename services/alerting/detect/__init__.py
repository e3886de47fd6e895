"""Pure crisis detectors over per-minute series: no I/O, state passed in and out."""

from services.alerting.detect.alert import Alert
from services.alerting.detect.authors import AuthorGateConfig, GateDecision, author_gate
from services.alerting.detect.baseline import BaselineConfig, SeasonalBaseline
from services.alerting.detect.keywords import KeywordConfig, critical_mention
from services.alerting.detect.ratios import (
    ShareConfig,
    ShareSurgeDetector,
    emotion_burst_detector,
    negative_share_detector,
)
from services.alerting.detect.spikes import PRESETS, SpikeConfig, SpikeDetector, preset
from services.alerting.detect.velocity import (
    VelocityConfig,
    VelocityDetector,
    weighted_engagement,
)

__all__ = [
    "PRESETS",
    "Alert",
    "AuthorGateConfig",
    "BaselineConfig",
    "GateDecision",
    "KeywordConfig",
    "SeasonalBaseline",
    "ShareConfig",
    "ShareSurgeDetector",
    "SpikeConfig",
    "SpikeDetector",
    "VelocityConfig",
    "VelocityDetector",
    "author_gate",
    "critical_mention",
    "emotion_burst_detector",
    "negative_share_detector",
    "preset",
    "weighted_engagement",
]
