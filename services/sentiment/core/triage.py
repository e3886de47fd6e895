"""Triage: which mentions, besides the VADER pass, also go to the (slower) transformer path."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from shared.schemas import Mention, SentimentScore

TriageReason = Literal["uncertain", "negative", "reach", "alert_window"]


@dataclass(frozen=True, slots=True)
class TriagePolicy:
    """Thresholds for sending a mention to the transformer; None or False disables a rule."""

    confidence_below: float | None = 0.5
    negative: bool = True
    reach_at_least: int | None = 10_000
    alert_windows: bool = True

    def __post_init__(self) -> None:
        if self.confidence_below is not None and not 0.0 <= self.confidence_below <= 1.0:
            raise ValueError("confidence_below must be within [0, 1]")
        if self.reach_at_least is not None and self.reach_at_least < 0:
            raise ValueError("reach_at_least must be >= 0")


def triage_reason(
    mention: Mention,
    fast: SentimentScore | None,
    *,
    policy: TriagePolicy,
    alert_brands: Collection[str] = frozenset(),
) -> TriageReason | None:
    """Return why `mention` also needs the transformer, or None when VADER suffices.

    `fast` is the VADER score (None when VADER does not cover the language: then only the
    reach and alert-window rules apply). `alert_brands` are brands inside an alert window.
    """
    if fast is not None:
        if policy.confidence_below is not None and fast.confidence < policy.confidence_below:
            return "uncertain"
        if policy.negative and fast.label == "negative":
            return "negative"
    if (
        policy.reach_at_least is not None
        and mention.author_reach is not None
        and mention.author_reach >= policy.reach_at_least
    ):
        return "reach"
    if policy.alert_windows and alert_brands and any(b in alert_brands for b in mention.brands):
        return "alert_window"
    return None


def needs_transformer(
    mention: Mention,
    fast: SentimentScore | None,
    *,
    policy: TriagePolicy,
    alert_brands: Collection[str] = frozenset(),
) -> bool:
    """True when `mention` should also be scored by the transformer."""
    return triage_reason(mention, fast, policy=policy, alert_brands=alert_brands) is not None
