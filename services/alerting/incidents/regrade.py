"""Re-grading an open incident when its refreshed projection says the story will triple. Pure."""

from __future__ import annotations

from services.alerting.incidents.severity import (
    PROJECTED_REASON,
    TRIPLING,
    SeverityLevel,
    one_level_up,
    projected_reason,
)

__all__ = ["projected_reason", "raised_level"]


def raised_level(
    level: SeverityLevel, rise: float | None, reasons: list[str], *, raised_before: bool
) -> SeverityLevel | None:
    """One level above `level` when the story is projected to at least triple, else None.

    Never lowers; never raises twice for the projection (neither after a refresh raised it
    nor when a signal's grade already took the "projected to triple" step).
    """
    if rise is None or rise < TRIPLING or raised_before or level == "SEV1":
        return None
    if any(r.startswith(PROJECTED_REASON) for r in reasons):
        return None
    return one_level_up(level)
