"""The negative-burst detector: N negative mentions of one brand from enough authors in a window.

Pure logic over scored mentions (event time); no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.schemas import ScoredMention


@dataclass(frozen=True, slots=True)
class BurstAlert:
    """A firing of the negative-burst detector."""

    brand: str
    at: datetime
    negatives: int
    authors: int
    rule: str = "negative_burst"


@dataclass
class _BrandWindow:
    events: deque[tuple[datetime, tuple[str, str], str]] = field(default_factory=deque)
    seen: set[tuple[str, str]] = field(default_factory=set)
    last_fired: datetime | None = None


class NegativeBurstDetector:
    """Fires once per burst; a replayed mention (same platform + id) is counted once."""

    def __init__(
        self, *, window: timedelta, min_negative: int, min_authors: int, cooldown: timedelta
    ) -> None:
        self._window = window
        self._min_negative = min_negative
        self._min_authors = min_authors
        self._cooldown = cooldown
        self._brands: dict[str, _BrandWindow] = {}

    def forget(self, brand: str) -> None:
        """Drop the brand's window."""
        self._brands.pop(brand, None)

    def to_dict(self, brand: str) -> dict[str, Any] | None:
        """The brand's window as a JSON-ready dict (kept with the detector state, so the
        next owner of the brand's partition, or a restart, goes on counting)."""
        state = self._brands.get(brand)
        if state is None:
            return None
        return {
            "events": [
                [at.isoformat(), list(identity), author] for at, identity, author in state.events
            ],
            "last_fired": state.last_fired.isoformat() if state.last_fired else None,
        }

    def restore(self, brand: str, data: dict[str, Any]) -> None:
        """Restore a window of `to_dict`."""
        state = self._brands[brand] = _BrandWindow()
        for at, (platform, external_id), author in data.get("events", []):
            state.events.append((datetime.fromisoformat(at), (platform, external_id), author))
            state.seen.add((platform, external_id))
        last = data.get("last_fired")
        state.last_fired = datetime.fromisoformat(last) if last else None

    def observe(self, scored: ScoredMention) -> list[BurstAlert]:
        """Feed one scored mention; return the alerts it tips (at most one per brand)."""
        if not scored.is_negative:
            return []
        m = scored.mention
        alerts = []
        for brand in m.brands:
            state = self._brands.setdefault(brand, _BrandWindow())
            if m.identity in state.seen:
                continue
            state.seen.add(m.identity)
            state.events.append((m.created_at, m.identity, m.author_id))
            horizon = max(ts for ts, _, _ in state.events) - self._window
            while state.events and state.events[0][0] < horizon:
                _, identity, _ = state.events.popleft()
                state.seen.discard(identity)
            alert = self._check(brand, state, m.created_at)
            if alert:
                alerts.append(alert)
        return alerts

    def _check(self, brand: str, state: _BrandWindow, at: datetime) -> BurstAlert | None:
        negatives = len(state.events)
        if negatives < self._min_negative:
            return None
        authors = len({author for _, _, author in state.events})
        if authors < self._min_authors:
            return None
        if state.last_fired is not None and at - state.last_fired < self._cooldown:
            return None
        state.last_fired = at
        return BurstAlert(brand=brand, at=at, negatives=negatives, authors=authors)
