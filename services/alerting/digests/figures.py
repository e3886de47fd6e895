"""What a brand digest reports, as plain values (gathered by `data.py`, shown by `content.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.alerting.digests.periods import Period


@dataclass(frozen=True, slots=True)
class Measures:
    """Volume and sentiment counts of a brand over a period or one bucket."""

    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0

    def __add__(self, other: Measures) -> Measures:
        return Measures(
            self.volume + other.volume,
            self.negative + other.negative,
            self.neutral + other.neutral,
            self.positive + other.positive,
        )

    @property
    def net_sentiment(self) -> float | None:
        """(positive - negative) / scored mentions, in [-1, 1]; None without scored ones."""
        scored = self.negative + self.neutral + self.positive
        return (self.positive - self.negative) / scored if scored else None

    @property
    def negative_share(self) -> float | None:
        """Share of scored mentions that are negative; None without scored ones."""
        scored = self.negative + self.neutral + self.positive
        return self.negative / scored if scored else None


@dataclass(frozen=True, slots=True)
class DigestIncident:
    """An incident of the brand as the digest lists it, with its signed room link."""

    id: int
    severity: str
    title: str
    status: str
    owner: str | None
    opened_at: datetime
    link: str
    resolved_at: datetime | None = None
    dismissal_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DigestStory:
    """A story of the brand active in the period."""

    label: str
    volume: int
    negative_share: float
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VoiceShare:
    """One brand's volume and share against its competitors in the period."""

    brand: str
    volume: int
    share: float


@dataclass(frozen=True, slots=True)
class BrandFigures:
    """Everything one brand's digest says about one period, and the one before it."""

    brand: str
    period: Period
    current: Measures
    previous: Measures
    series: tuple[Measures, ...]  # one per bucket of `period`
    previous_series: tuple[Measures, ...]  # one per bucket of `period.previous()`
    opened: tuple[DigestIncident, ...] = ()
    resolved: tuple[DigestIncident, ...] = ()
    dismissed: tuple[DigestIncident, ...] = ()
    open_now: tuple[DigestIncident, ...] = ()
    stories: tuple[DigestStory, ...] = ()
    phrases: tuple[tuple[str, int], ...] = ()
    voice: tuple[VoiceShare, ...] = ()
    overview_link: str = ""

    def volume_change(self) -> float | None:
        """Relative change of volume against the previous period (None: no previous volume)."""
        if not self.previous.volume:
            return None
        return (self.current.volume - self.previous.volume) / self.previous.volume

    def summary(self) -> dict[str, int | float | None]:
        """The headline counts, stored with the claimed digest."""
        return {
            "volume": self.current.volume,
            "previous_volume": self.previous.volume,
            "net_sentiment": self.current.net_sentiment,
            "opened": len(self.opened),
            "resolved": len(self.resolved),
            "dismissed": len(self.dismissed),
            "open": len(self.open_now),
            "stories": len(self.stories),
        }
