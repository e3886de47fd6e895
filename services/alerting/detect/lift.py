"""Expected-volume multipliers: planned campaigns raise what a brand's usual volume is."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class LiftLookup(Protocol):
    """Expected-volume multiplier of a brand at a time (planned campaigns)."""

    def lift(self, brand: str, at: datetime) -> float:
        """Return the multiplier (1.0 when nothing is planned)."""
        ...


class NoLift:
    """Nothing planned: every multiplier is 1."""

    def lift(self, brand: str, at: datetime) -> float:
        """Return 1.0."""
        return 1.0
