"""Settings of the brand digests: a daily and a weekly brand-health report per brand.

Declared once here and inherited by `NotifySettings` (the alerting service's notification
section), like the link settings: the housekeeper schedules the digests and the outbox
delivers them through the notification channels.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, model_validator

from shared.settings.base import SettingsBase

DigestPeriod = Literal["daily", "weekly"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class DigestRecipients(BaseModel):
    """Where one brand's digest goes instead of the default recipients."""

    slack_channel: str | None = None
    email_to: list[str] = Field(default_factory=list)


def _both() -> list[DigestPeriod]:
    return ["daily", "weekly"]


def _slack_email() -> list[Literal["slack", "email", "webhook"]]:
    return ["slack", "email"]


class BrandDigestSettings(SettingsBase):
    """When brand digests are sent, to whom, and about which brands."""

    brand_digest_enabled: bool = Field(
        default=False, description="send the scheduled brand digests (daily and/or weekly)"
    )
    brand_digest_periods: list[DigestPeriod] = Field(
        default_factory=_both, description="JSON list of the digests sent: daily, weekly"
    )
    brand_digest_hour: int = Field(
        default=8, ge=0, le=23, description="local hour of day the digests are sent"
    )
    brand_digest_timezone: str = Field(
        default="UTC", description="IANA time zone of the digest hour and of its days"
    )
    brand_digest_weekday: Weekday = Field(
        default="monday", description="day the weekly digest (of the 7 days before) is sent"
    )
    brand_digest_channels: list[Literal["slack", "email", "webhook"]] = Field(
        default_factory=_slack_email, description="channels that receive the brand digests"
    )
    brand_digest_brands: list[str] = Field(
        default_factory=list,
        description="JSON list of brands with a digest (empty: every stored watchlist's brand "
        "and every brand with incidents in the period)",
    )
    brand_digest_slack_channel: str | None = Field(
        default=None, description="Slack channel of the digests (empty: slack_channel)"
    )
    brand_digest_email_to: list[str] = Field(
        default_factory=list, description="recipients of digest emails (empty: smtp_to)"
    )
    brand_digest_recipients: dict[str, DigestRecipients] = Field(
        default_factory=dict,
        description="JSON map brand -> {slack_channel, email_to} overriding the recipients",
    )

    @model_validator(mode="after")
    def _check_digests(self) -> BrandDigestSettings:
        too_long = [b for b in self.brand_digest_brands if not 0 < len(b) <= 64]
        if too_long:
            raise ValueError(f"brand_digest_brands: brand keys are 1-64 characters: {too_long}")
        try:
            ZoneInfo(self.brand_digest_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"brand_digest_timezone: unknown time zone {self.brand_digest_timezone!r}"
            ) from exc
        return self

    def digest_zone(self) -> ZoneInfo:
        """The time zone of the digest schedule and periods."""
        return ZoneInfo(self.brand_digest_timezone)
