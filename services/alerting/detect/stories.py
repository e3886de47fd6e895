"""Grouping: which open incident a signal belongs to, so one story opens one incident. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

_SEVERITY_RANK: dict[str, int] = {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4}


def worse(a: str, b: str) -> str:
    """Return the more severe of two levels (SEV1 is the worst)."""
    return a if _SEVERITY_RANK.get(a, 9) <= _SEVERITY_RANK.get(b, 9) else b


@dataclass(frozen=True, slots=True)
class OpenStory:
    """An incident that is not resolved, as the grouping rule sees it."""

    incident_id: int
    topic: str
    last_signal_at: datetime
    severity: str


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a signal goes: an existing incident (possibly re-topiced) or a new one."""

    incident_id: int | None
    retopic: bool = False


def place_signal(
    *, story_topic: str, at: datetime, open_stories: Sequence[OpenStory], window: timedelta
) -> Placement:
    """Pick the incident a signal belongs to, so one story opens one incident.

    Same (brand, topic): join it. A brand-level signal joins the brand's open incident with
    the most recent signal within `window`. A topic signal with no incident of its own
    joins (and gives its topic to) a generic incident of the brand active within `window`.
    """
    same = [s for s in open_stories if s.topic == story_topic]
    if same:
        return Placement(same[0].incident_id)
    active = [s for s in open_stories if abs(at - s.last_signal_at) <= window]
    if not active:
        return Placement(None)
    if not story_topic:
        return Placement(max(active, key=lambda s: s.last_signal_at).incident_id)
    generic = [s for s in active if not s.topic]
    if generic:
        return Placement(generic[0].incident_id, retopic=True)
    return Placement(None)
