"""Severity of an alert: SEV1 (worst) to SEV4, with its scope and human-readable reasons."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from shared.contracts.topics import topic_contract

SeverityLevel = Literal["SEV1", "SEV2", "SEV3", "SEV4"]

# The risk of a topic to the brand is its `risk_weight` in the topic contract
# (shared/contracts/topics.yaml); a topic the contract does not know weighs this much.
DEFAULT_TOPIC_RISK = 1.0
# A story projected to keep at least three times the brand's usual volume over the next
# 6 hours is one level more severe than one that peaked and falls back. (Measured on the dev
# alerts: 37 of the 46 projected came at 3x usual; of the alerts whose last hour already ran at
# 3x usual, 58 of 125 did.)
TRIPLING = 3.0
LEVELS: tuple[SeverityLevel, ...] = ("SEV1", "SEV2", "SEV3", "SEV4")  # worst first
PROJECTED_REASON = "projected to run at"  # how the reasons of that step begin
# Reasons of the step as worded before (a last-hour pace no projection could reach).
_OLD_PROJECTED_REASONS = ("projected to reach",)


def topic_risk(topic: str) -> float:
    """Return the severity points a story about `topic` adds (its contract risk weight)."""
    return topic_contract().risk_weight(topic, default=DEFAULT_TOPIC_RISK)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the crisis is happening."""

    markets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Severity:
    """The assessed level, its points, scope and the reasons that produced it."""

    level: SeverityLevel
    points: float
    scope: Scope
    reasons: list[str] = field(default_factory=list)


def _tier(value: float, steps: tuple[tuple[float, float], ...]) -> float:
    """Return the points of the highest step whose threshold `value` reaches."""
    return next((points for threshold, points in steps if value >= threshold), 0.0)


def assess_severity(
    *,
    magnitude: float,
    reach: int = 0,
    velocity_ratio: float = 1.0,
    negative_share: float = 0.0,
    topics: Iterable[str] = (),
    markets: Iterable[str] = (),
    languages: Iterable[str] = (),
    platforms: Iterable[str] = (),
    projected_multiple: float | None = None,
) -> Severity:
    """Grade an alert from its magnitude (value / baseline), reach, velocity, tone and topic.

    `projected_multiple`: the next 6 hours' projected mentions over the brand's usual volume
    of those hours (`detect.forecast`); a story projected to keep at least three times its
    usual volume is one level more severe.
    """
    reasons: list[str] = []
    scope = Scope(
        markets=tuple(sorted(set(markets))),
        languages=tuple(sorted(set(languages))),
        platforms=tuple(sorted(set(platforms))),
    )
    parts = {
        "magnitude": _tier(magnitude, ((10, 3), (5, 2), (2, 1))),
        "reach": _tier(reach, ((1_000_000, 2), (100_000, 1))),
        "velocity": _tier(velocity_ratio, ((5, 2), (2, 1))),
        "negativity": _tier(negative_share, ((0.6, 2), (0.4, 1))),
        "breadth": _tier(len(scope.markets) + len(scope.platforms), ((5, 2), (3, 1))),
    }
    topic_list = sorted(set(topics))
    risk = max((topic_risk(t) for t in topic_list), default=0.0)
    if parts["magnitude"]:
        reasons.append(f"volume {magnitude:.1f}x its usual level")
    if parts["reach"]:
        reasons.append(f"authors reaching {reach:,} people")
    if parts["velocity"]:
        reasons.append(f"engagement spreading {velocity_ratio:.1f}x faster than usual")
    if parts["negativity"]:
        reasons.append(f"{negative_share:.0%} of posts negative")
    if parts["breadth"]:
        reasons.append(
            f"{len(scope.markets)} markets and {len(scope.platforms)} platforms involved"
        )
    if topic_list:
        reasons.append(f"topic {', '.join(topic_list)} (risk weight {risk:g})")
    points = sum(parts.values()) + risk
    level: SeverityLevel = (
        "SEV1" if points >= 9 else "SEV2" if points >= 6 else "SEV3" if points >= 3 else "SEV4"
    )
    if projected_multiple is not None and projected_multiple >= TRIPLING:
        level = one_level_up(level)
        reasons.append(projected_reason(projected_multiple))
    return Severity(level=level, points=points, scope=scope, reasons=reasons)


def one_level_up(level: SeverityLevel) -> SeverityLevel:
    """The next more severe level (SEV1 stays SEV1)."""
    return LEVELS[max(0, LEVELS.index(level) - 1)]


def projected_reason(multiple: float) -> str:
    """The reason given for the "projected to run at 3x usual" step."""
    return f"{PROJECTED_REASON} {multiple:.1f}x its usual volume over the next 6 h"


def is_projected_reason(reason: str) -> bool:
    """True for a reason of the projected step (in its current or an older wording)."""
    return reason.startswith((PROJECTED_REASON, *_OLD_PROJECTED_REASONS))
