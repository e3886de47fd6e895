"""Request and response models of the brand settings API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, Field, field_validator

from services.alerting.schemas import StrictInput
from shared.settings.notify import SEVERITIES

Preset = Literal["sensitive", "balanced", "strict"]
BrandP = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", examples=["acme"])]
Target = Literal["slack", "email", "webhook", "digest"]  # shared.settings.notify CHANNELS + DIGEST


class BrandSettingsIn(StrictInput):
    """A brand's detection preset and notification routes; unset fields use the defaults."""

    preset: Preset | None = Field(
        default=None,
        description="sensitivity of the volume-spike detectors "
        "(default: CRISISWATCH_ALERTING_PRESET)",
    )
    routes: dict[str, list[Target]] = Field(
        default_factory=dict,
        examples=[{"SEV2": ["webhook"], "SEV3": ["slack"]}],
        description="severity -> channels (slack, email, webhook, digest); a severity not "
        "listed follows CRISISWATCH_ROUTES; an empty list notifies nobody",
    )

    @field_validator("routes")
    @classmethod
    def _severities(cls, routes: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(routes) - set(SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severities {unknown}; use {list(SEVERITIES)}")
        return {sev: list(dict.fromkeys(targets)) for sev, targets in routes.items()}


class BrandSettingsRead(BaseModel):
    """A brand's stored settings."""

    brand: str
    preset: Preset | None
    routes: dict[str, list[str]]
    updated_at: datetime


class Proposal(BaseModel):
    """A less sensitive preset proposed for a brand whose alerts of `rule` were dismissed."""

    brand: str
    rule: str = Field(description="the detector whose incidents were dismissed")
    dismissals: int = Field(description="dismissals since `since`")
    since: datetime = Field(description="start of the counted span (window or preset change)")
    last_dismissed_at: datetime
    current_preset: Preset
    proposed_preset: Preset
    reasons: list[str] = Field(description="the latest dismissal reasons (at most 5)")


class ApplyProposalIn(StrictInput):
    """Which proposal to apply."""

    rule: str = Field(min_length=1, max_length=128, examples=["volume_spike"])
