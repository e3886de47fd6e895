"""Critical-keyword rule: a credible first mention of a high-risk topic pages at once.

The topics it reads are those the sentiment stage kept after its idiom list and context gate
(`services/sentiment/core/context.py`): "I died laughing" or a clearly positive post carries
no crisis topic by the time it gets here, so it neither pages nor adds to a topic's volume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.alerting.detect.alert import Alert, as_utc

RULE = "critical_keyword"


@dataclass(frozen=True, slots=True)
class KeywordConfig:
    """Which topics are critical, and what makes a mention credible."""

    topics: frozenset[str] = frozenset({"recall", "safety", "data_privacy"})
    min_reach: int = 10_000
    min_engagement: int = 50


def critical_mention(
    *,
    ts: datetime,
    topics: Iterable[str],
    author_reach: int | None,
    engagement: int,
    config: KeywordConfig | None = None,
) -> Alert | None:
    """Return an alert when a mention of a critical topic has enough reach or engagement."""
    cfg = config or KeywordConfig()
    hits = sorted(set(topics) & cfg.topics)
    if not hits:
        return None
    reach = author_reach or 0
    if reach < cfg.min_reach and engagement < cfg.min_engagement:
        return None
    score = max(reach / cfg.min_reach, engagement / cfg.min_engagement)
    return Alert(
        ts=as_utc(ts),
        rule=RULE,
        score=round(score, 3),
        value=float(max(reach, engagement)),
        baseline=float(cfg.min_reach if reach >= cfg.min_reach else cfg.min_engagement),
        details={"topics": hits, "author_reach": reach, "engagement": engagement},
    )
