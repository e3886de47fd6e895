"""Settings of the alerting service."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class AlertingSettings(CommonSettings):
    """Consumer group and crisis-rule thresholds of the alerting service."""

    alerting_group_id: str = "crisiswatch-alerting"
    alerting_metrics_host: str = "127.0.0.1"
    alerting_metrics_port: int = Field(default=9103, ge=0, le=65535, description="0 disables")
    burst_window_s: int = Field(default=300, ge=10, description="sliding window of the burst rule")
    burst_min_negative: int = Field(default=20, ge=1, description="negative mentions in window")
    burst_min_authors: int = Field(default=5, ge=1, description="distinct authors in window")
    burst_cooldown_s: int = Field(default=600, ge=0, description="quiet time after a firing")
