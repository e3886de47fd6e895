"""Grouping: which open incident a signal belongs to, so one story opens one incident. Pure.

A signal is about the story that dominates the mentions of its detection window
(`dominant_story`: most negative mentions, else most mentions). `place_signal` routes it to
the open incident of that story (after sentiment-side merges, `canonical`); two open
incidents that turn out to follow one story are merged into the older one. A signal without
a story (payloads from before stories) falls back to (brand, topic) grouping in a window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.alerting.detect.bins import Bin

_SEVERITY_RANK: dict[str, int] = {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4}
MIN_STORY_SHARE = 0.2  # a window's story must hold this share of it to name the signal
MAX_MERGE_HOPS = 16  # a chain of story merges is followed this far (a cycle stops too)


def worse(a: str, b: str) -> str:
    """Return the more severe of two levels (SEV1 is the worst)."""
    return a if _SEVERITY_RANK.get(a, 9) <= _SEVERITY_RANK.get(b, 9) else b


def dominant_story(window: Sequence[Bin], *, min_share: float = MIN_STORY_SHARE) -> str | None:
    """The story most of the window's negative mentions belong to (most mentions if none is
    negative); None when no story holds `min_share` of them. Ties go to the smaller id."""
    negatives = sum(b.negatives for b in window)
    index = 1 if negatives > 0 else 0
    total = negatives if negatives > 0 else sum(b.count for b in window)
    weights: Counter[str] = Counter()
    for b in window:
        for story, counts in b.stories.items():
            weights[story] += counts[index]
    if total <= 0 or not weights:
        return None
    story, weight = min(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    return story if weight > 0 and weight / total >= min_share else None


def window_attributes(window: Sequence[Bin]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The topics and emotions of the window's mentions, most frequent first."""
    topics: Counter[str] = Counter()
    emotions: Counter[str] = Counter()
    for b in window:
        topics.update(b.topics)
        emotions.update(b.emotions)
    return _ranked(topics), _ranked(emotions)


def _ranked(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if k)


def canonical(story: str, merged_into: Mapping[str, str]) -> str:
    """The story `story` ended up in, following sentiment-side merges."""
    seen = {story}
    for _ in range(MAX_MERGE_HOPS):
        nxt = merged_into.get(story)
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        story = nxt
    return story


@dataclass(frozen=True, slots=True)
class OpenStory:
    """An incident that is not resolved, as the grouping rule sees it."""

    incident_id: int
    topic: str
    last_signal_at: datetime
    severity: str
    story: str | None = None  # its story after merges; None for a topic-grouped incident


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a signal goes: an existing incident (possibly re-topiced) or a new one.

    `merge` names younger open incidents of the same story, to be closed as merged into
    `incident_id`; `adopt` says the incident (grouped by topic so far) takes the story.
    """

    incident_id: int | None
    retopic: bool = False
    merge: tuple[int, ...] = ()
    adopt: bool = False


def place_signal(
    *,
    story_topic: str,
    at: datetime,
    open_stories: Sequence[OpenStory],
    window: timedelta,
    story: str | None = None,
) -> Placement:
    """Pick the incident a signal belongs to, so one story opens one incident.

    With a story: the oldest open incident of that story, the younger ones merged into it
    (a generic one takes the signal's topic as its main one); else an incident without a
    story that the topic rule below would pick adopts it; else a new incident.

    Without a story (the topic rule): same (brand, topic), the most recently active; a
    brand-level signal joins the incident with the most recent signal within `window`; a
    topic signal with no incident of its own joins (and gives its topic to) a generic
    incident of the brand active within `window`.
    """
    if story is not None:
        same = sorted((s for s in open_stories if s.story == story), key=lambda s: s.incident_id)
        if same:
            # A story first seen as a volume burst takes the topic of its first topic signal.
            retopic = not same[0].topic and bool(story_topic)
            return Placement(
                same[0].incident_id, retopic, merge=tuple(s.incident_id for s in same[1:])
            )
        storyless = [s for s in open_stories if s.story is None]
        found = _by_topic(story_topic, at, storyless, window)
        return Placement(found.incident_id, found.retopic, adopt=found.incident_id is not None)
    return _by_topic(story_topic, at, open_stories, window)


def _by_topic(
    story_topic: str, at: datetime, open_stories: Sequence[OpenStory], window: timedelta
) -> Placement:
    same = [s for s in open_stories if s.topic == story_topic]
    if same:
        return Placement(max(same, key=lambda s: (s.last_signal_at, -s.incident_id)).incident_id)
    active = [s for s in open_stories if abs(at - s.last_signal_at) <= window]
    if not active:
        return Placement(None)
    if not story_topic:
        return Placement(max(active, key=lambda s: s.last_signal_at).incident_id)
    generic = [s for s in active if not s.topic]
    if generic:
        return Placement(generic[0].incident_id, retopic=True)
    return Placement(None)
