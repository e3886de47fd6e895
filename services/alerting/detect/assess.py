"""From an alert to a signal: the distinct-author gate and the severity assessment. Pure.

`gate` says whether the authors of the recent window are credible enough for an alert to
speak; `assess` measures the alert's scope (reach, markets, languages, platforms) and the
brand's recent negativity, and returns the `Signal` with its severity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.alerting.detect.alert import Alert, as_utc
from services.alerting.detect.authors import AuthorGateConfig, author_gate
from services.alerting.detect.bins import Bin
from services.alerting.detect.forecast import Projection
from services.alerting.detect.signals import Signal
from services.alerting.detect.spikes import SpikeDetector
from services.alerting.detect.stories import dominant_story, window_attributes
from services.alerting.incidents.severity import assess_severity
from shared.schemas import ScoredMention


def gate(window: Sequence[Bin], config: AuthorGateConfig) -> str | None:
    """Return why the distinct-author gate refuses an alert over `window` (None: it passes)."""
    volume = sum(b.count for b in window)
    authors: Counter[str] = Counter()
    hint = 0
    for b in window:
        authors.update(b.authors)
        hint += b.distinct_hint
    distinct = len(authors) or hint
    top = max(authors.values()) / volume if authors and volume else None
    decision = author_gate(
        volume=volume, distinct_authors=distinct, top_author_share=top, config=config
    )
    return None if decision.passed else decision.reason


def assess(
    *,
    brand: str,
    topic: str,
    story: str,
    alert: Alert,
    window: Sequence[Bin],
    brand_window: Sequence[Bin],
    tipping: datetime | None,
    mention: ScoredMention | None,
) -> Signal:
    """Return the signal of an alert on `window`, with its severity and story topic."""
    reach: dict[str, int] = {}
    markets: set[str] = set()
    languages: set[str] = set()
    platforms: set[str] = set()
    for b in window:
        for author, r in b.author_reach.items():
            reach[author] = max(r, reach.get(author, 0))
        markets |= set(b.markets)
        languages |= set(b.languages)
        platforms |= set(b.platforms)
    if mention is not None:
        m = mention.mention
        if m.author_reach:
            reach[m.author_id] = max(m.author_reach, reach.get(m.author_id, 0))
        languages.add(mention.language)
        platforms.add(m.platform)
    negatives = sum(b.negatives for b in brand_window)
    scored = sum(b.scored for b in brand_window)
    severity = assess_severity(
        magnitude=float(alert.details.get("ratio", alert.score)),
        reach=sum(reach.values()),
        velocity_ratio=velocity_ratio(brand_window),
        negative_share=negatives / scored if scored else 0.0,
        topics=[story] if story else [],
        markets=markets,
        languages=languages,
        platforms=platforms,
        projected_multiple=_projected_multiple(alert),
    )
    mentions = sum(b.count for b in window)
    # A mention's own rule (keyword, burst) is about that mention's story.
    # The brand's background story (its ordinary talk) is never an incident's story.
    own = mention.story_id if mention is not None and not mention.story_background else None
    topics, emotions = window_attributes(window)
    if mention is not None:
        topics = tuple(dict.fromkeys([*mention.topics, *topics]))
        felt = [mention.emotion] if mention.emotion else []
        emotions = tuple(dict.fromkeys([*felt, *emotions]))
    return Signal(
        brand=brand,
        topic=topic,
        story_topic=story,
        rule=alert.rule,
        at=as_utc(alert.ts),
        score=float(alert.score),
        value=float(alert.value),
        baseline=float(alert.baseline),
        severity=severity,
        mentions=mentions if mention is None else max(mentions, 1),
        tipping_ingested_at=tipping,
        details={**alert.details, "window_mentions": mentions},
        story_id=own or dominant_story(window),
        topics=topics,
        emotions=emotions,
    )


def _projected_multiple(alert: Alert) -> float | None:
    """The alert's projected next 6 hours over the usual volume of those hours (None: no
    projection, or one stored before the multiple was kept)."""
    data = alert.details.get("projection")
    return Projection.from_dict(data).usual_multiple if isinstance(data, dict) else None


def velocity_ratio(window: Sequence[Bin]) -> float:
    """Return negative engagement of the last third of the window over the earlier part."""
    if len(window) < 3:
        return 1.0
    cut = len(window) * 2 // 3
    before = sum(b.neg_engagement for b in window[:cut]) / cut
    after = sum(b.neg_engagement for b in window[cut:]) / (len(window) - cut)
    return after / before if before > 0 else (1.0 if after == 0 else 5.0)


def rearm(detector: Any) -> None:
    """Forget a gated firing, so the detector may fire for a credible crisis right after."""
    if isinstance(detector, SpikeDetector):
        detector.rearm()
        return
    debounce = detector.debounce
    debounce.last_fire = None
    debounce.armed = True
