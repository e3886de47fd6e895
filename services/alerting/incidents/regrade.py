"""Re-grading an open incident when its refreshed projection says the story will triple. Pure."""

from __future__ import annotations

from typing import get_args

from services.alerting.incidents.severity import TRIPLING, SeverityLevel

_LEVELS: tuple[SeverityLevel, ...] = get_args(SeverityLevel)  # worst first

# The reason `assess_severity` gives for the same step; an incident holding it was raised already.
PROJECTED_REASON = "projected to reach"


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
    return _LEVELS[_LEVELS.index(level) - 1]


def projected_reason(rise: float) -> str:
    """The reason recorded with the step, worded as `assess_severity` words it."""
    return f"{PROJECTED_REASON} {rise:.1f}x its last hour's pace in 6 h"
