"""What the detection engine emits: signals, refused alerts, recoveries, and its inputs.

A `Signal` is a gated, assessed detector firing; `Gated` an alert the distinct-author gate
refused; `Recovery` a story back to baseline; `Refresh` an open story's new projection;
`Decisions` collects what one engine step produced. `RollupMinute` is one stored minute of
one series, the input of rebuilds and backtests. Pure records, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.alerting.incidents.severity import Severity, SeverityLevel
from shared.contracts.topics import topic_contract


def category_of(topic: str) -> str:
    """Return the incident category of a story topic (`generic` for volume-only stories)."""
    return topic_contract().category_of(topic)


@dataclass(frozen=True, slots=True)
class Signal:
    """A gated, assessed detector firing, ready to be stored and grouped into an incident."""

    brand: str
    topic: str  # series the detector ran on; "" for the brand level
    story_topic: str  # topic the story is about; "" when volume-only
    rule: str
    at: datetime
    score: float
    value: float
    baseline: float
    severity: Severity
    mentions: int
    tipping_ingested_at: datetime | None
    details: dict[str, Any] = field(default_factory=dict)
    competitor: bool = False  # about a watched competitor (`watch_competitors`)
    # The story the mentions that made the signal are about (None: payloads without one),
    # and the topics and emotions of its window's mentions, most frequent first.
    story_id: str | None = None
    topics: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()

    @property
    def category(self) -> str:
        """Incident category: `competitor`, else the story topic's category, or `generic`."""
        return COMPETITOR if self.competitor else category_of(self.story_topic)

    def as_competitor(self) -> Signal:
        """This signal as a competitor's: low severity (SEV4), category `competitor`."""
        reason = f"competitor {self.brand} (watched for crises, not ours)"
        reasons = list(dict.fromkeys([reason, *self.severity.reasons]))
        severity = replace(self.severity, level=COMPETITOR_SEVERITY, reasons=reasons)
        return replace(self, severity=severity, competitor=True)


COMPETITOR = "competitor"
COMPETITOR_SEVERITY: SeverityLevel = "SEV4"


@dataclass(frozen=True, slots=True)
class Recovery:
    """A story whose metrics have been back to baseline for `calm_minutes`."""

    brand: str
    topic: str
    at: datetime
    calm_minutes: float


@dataclass(frozen=True, slots=True)
class Refresh:
    """The latest projection of the series of an open story (`detect.forecast`)."""

    brand: str
    topic: str
    at: datetime
    projection: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Gated:
    """An alert refused by the distinct-author gate."""

    brand: str
    topic: str
    rule: str
    reason: str


@dataclass(slots=True)
class Decisions:
    """What one engine step produced."""

    signals: list[Signal] = field(default_factory=list)
    gated: list[Gated] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    refreshes: list[Refresh] = field(default_factory=list)
    late: int = 0
    bins: int = 0
    brands: set[str] = field(default_factory=set)
    broken_rules: list[tuple[str, str]] = field(default_factory=list)  # (rule name, reason)

    def extend(self, other: Decisions) -> None:
        """Append another step's decisions."""
        self.brands |= other.brands
        self.signals += other.signals
        self.gated += other.gated
        self.recoveries += other.recoveries
        self.refreshes += other.refreshes
        self.late += other.late
        self.bins += other.bins
        self.broken_rules += other.broken_rules


@dataclass(frozen=True, slots=True)
class RollupMinute:
    """One minute of one series as stored in `mention_rollups` (for rebuilds and backtests)."""

    start: float
    topic: str
    count: int
    negatives: int
    scored: int
    burst: float
    neg_engagement: float
    distinct_authors: int
