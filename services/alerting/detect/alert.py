"""The alert every detector emits, and the time helpers they share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Alert:
    """One detector decision: which rule fired, when, and how far above its baseline."""

    ts: datetime
    rule: str
    score: float
    value: float
    baseline: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (timestamp as ISO 8601)."""
        data = asdict(self)
        data["ts"] = self.ts.isoformat()
        return data


def as_utc(ts: datetime) -> datetime:
    """Return `ts` in UTC; naive datetimes are taken to be UTC already."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def to_epoch(ts: datetime) -> float:
    """Return POSIX seconds for `ts` (naive taken as UTC)."""
    return as_utc(ts).timestamp()


def from_epoch(seconds: float) -> datetime:
    """Return the aware UTC datetime for POSIX `seconds`."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def half_life_alpha(half_life_bins: float) -> float:
    """Return the EWMA weight whose memory halves after `half_life_bins` updates."""
    if half_life_bins <= 0:
        return 1.0
    return float(1.0 - 0.5 ** (1.0 / half_life_bins))
