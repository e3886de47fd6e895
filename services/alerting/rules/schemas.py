"""Request and response models of the rules API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.alerting.schemas import StrictInput

Metric = Literal["negative", "volume", "negative_ratio", "mean_score"]


class RuleDefinition(StrictInput):
    """A threshold rule on rollup aggregates per window."""

    kind: Literal["threshold"] = "threshold"
    metric: Metric = Field(
        examples=["negative"], description="negative count, volume, negative/volume or mean score"
    )
    window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    threshold: float = Field(examples=[50.0], ge=-1e12, le=1e12)
    comparison: Literal[">=", "<="] = ">="
    min_volume: int = Field(
        default=0, ge=0, le=10**9, description="ignore windows with fewer mentions"
    )
    topic: str = Field(default="", max_length=64)
    platform: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV3"


class RuleIn(StrictInput):
    """Input of create/replace rule."""

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        examples=["acme-negative-surge"],
    )
    brand: str = Field(default="*", min_length=1, max_length=64, examples=["acme"])
    enabled: bool = True
    definition: RuleDefinition


class RuleRead(BaseModel):
    """A stored rule."""

    id: int
    name: str
    brand: str
    enabled: bool
    definition: dict[str, Any]
    updated_at: datetime


class RuleFiring(BaseModel):
    """A window where the rule would have fired."""

    brand: str
    window_start: datetime
    value: float
    volume: int


class RuleValidation(BaseModel):
    """What a rule would have fired on over the checked range."""

    start: datetime
    end: datetime
    windows_checked: int
    firings: list[RuleFiring]
