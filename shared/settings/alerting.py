"""Settings of the alerting service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shared.settings.common import CommonSettings


class AlertingSettings(CommonSettings):
    """Consumer group, detection sensitivity, grouping and state of the alerting service."""

    alerting_group_id: str = Field(
        default="crisiswatch-alerting", description="consumer group of the alerting service"
    )
    alerting_metrics_host: str = Field(default="127.0.0.1", description="metrics listen address")
    alerting_metrics_port: int = Field(default=9103, ge=0, le=65535, description="0 disables")
    # Detection
    alerting_preset: Literal["sensitive", "balanced", "strict"] = Field(
        default="balanced", description="sensitivity preset of the volume-spike detectors"
    )
    alerting_young_model: bool = Field(
        default=False,
        description="judge series younger than a week with the gamma-Poisson level model too",
    )
    alerting_proposal_min_dismissals: int = Field(
        default=3,
        ge=1,
        description="dismissals of a preset rule for a brand that propose a less sensitive preset",
    )
    alerting_proposal_days: int = Field(
        default=14, ge=1, le=365, description="days of dismissals a tuning proposal counts"
    )
    alerting_bin_seconds: int = Field(default=60, ge=10, le=3600, description="bin size")
    alerting_lateness_s: float = Field(
        default=20.0, ge=0, description="event-time lateness allowed before a bin closes"
    )
    alerting_idle_flush_s: float = Field(
        default=30.0, gt=0, description="wall-clock idle time after which a brand's bins close"
    )
    alerting_gate_min_authors: int = Field(
        default=5, ge=1, description="distinct authors a volume or ratio alert needs"
    )
    alerting_gate_max_top_share: float = Field(
        default=0.5, gt=0, le=1, description="largest share of the window one author may write"
    )
    alerting_keyword_min_reach: int = Field(
        default=10_000, ge=0, description="critical-keyword rule: author reach that is credible"
    )
    alerting_keyword_min_engagement: int = Field(
        default=50, ge=0, description="critical-keyword rule: engagement that is credible"
    )
    burst_window_s: int = Field(default=300, ge=10, description="sliding window of the burst rule")
    burst_min_negative: int = Field(default=20, ge=1, description="negative mentions in window")
    burst_min_authors: int = Field(default=5, ge=1, description="distinct authors in window")
    burst_cooldown_s: int = Field(default=600, ge=0, description="quiet time after a firing")
    # Grouping, recovery, state
    alerting_grouping_window_s: int = Field(
        default=3600, ge=60, description="signals this close in time join the same story"
    )
    alerting_recovery_minutes: float = Field(
        default=60.0, gt=0, description="calm minutes before an auto-resolve is proposed"
    )
    alerting_checkpoint_s: float = Field(
        default=5.0, gt=0, description="how often detector state and offsets are saved"
    )
    alerting_rebuild_hours: float = Field(
        default=72.0, ge=0, description="rollup history replayed when a brand has no state"
    )
    alerting_campaign_refresh_s: float = Field(
        default=60.0, gt=0, description="how often the campaign calendar is reloaded"
    )
    alerting_rules_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="how often the stored rules (/v1/rules) and brand settings "
        "(/v1/brands/{brand}/settings) are checked for changes",
    )
    # Scaling out: several replicas share the partitions of mentions.scored
    alerting_restore_on_assign: bool = Field(
        default=True,
        description="load the stored detector state of a partition's brands when it is "
        "assigned (else each brand's state loads at its first record)",
    )
    alerting_session_timeout_s: float = Field(
        default=10.0,
        ge=6,
        le=300,
        description="Kafka group session timeout: how long a silent replica keeps its "
        "partitions before the group moves them",
    )
    alerting_claim_wait_s: float = Field(
        default=10.0,
        gt=0,
        description="how long a partition claim waits for the previous owner's checkpoint "
        "before it terminates that database session (a frozen replica)",
    )

    @model_validator(mode="after")
    def _check_windows(self) -> AlertingSettings:
        if self.alerting_grouping_window_s < self.alerting_bin_seconds:
            raise ValueError("alerting_grouping_window_s must be at least one bin")
        if self.alerting_lateness_s >= self.alerting_grouping_window_s:
            raise ValueError("alerting_lateness_s must be shorter than the grouping window")
        return self
