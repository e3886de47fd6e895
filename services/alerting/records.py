"""Records of the alerting worker: what it reads of a scored mention, what it dead-letters.

`watched_only` narrows a mention to the brands the worker watches; `signal_record` and
`recovery_record` are the JSON a refused signal or recovery proposal is dead-lettered as.
"""

from __future__ import annotations

from typing import Any

from services.alerting.detect.signals import Recovery, Signal
from shared.schemas import ScoredMention


def watched_only(scored: ScoredMention) -> ScoredMention | None:
    """`scored` about its watched brands and watched competitors alone; None if none.

    Tracked competitors are removed, unless a watchlist watches their crises.
    """
    m = scored.mention
    if not m.competitors:
        return scored
    brands = [b for b in m.brands if b not in m.competitors or b in m.watched_competitors]
    if not brands:
        return None
    return scored.model_copy(update={"mention": m.model_copy(update={"brands": brands})})


def signal_record(signal: Signal) -> dict[str, Any]:
    """The signal as JSON for the dead-letter topic: enough to look at it and store it."""
    scope = signal.severity.scope
    return {
        "kind": "signal",
        "brand": signal.brand,
        "topic": signal.topic,
        "story_topic": signal.story_topic,
        "rule": signal.rule,
        "at": signal.at.isoformat(),
        "score": signal.score,
        "value": signal.value,
        "baseline": signal.baseline,
        "severity": signal.severity.level,
        "scope": {
            "markets": sorted(scope.markets),
            "languages": sorted(scope.languages),
            "platforms": sorted(scope.platforms),
        },
        "mentions": signal.mentions,
        "details": signal.details,
        "competitor": signal.competitor,
    }


def recovery_record(recovery: Recovery) -> dict[str, Any]:
    """The recovery proposal as JSON for the dead-letter topic."""
    return {
        "kind": "recovery",
        "brand": recovery.brand,
        "topic": recovery.topic,
        "at": recovery.at.isoformat(),
        "calm_minutes": recovery.calm_minutes,
    }
