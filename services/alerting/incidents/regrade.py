"""Re-grading an open incident when its refreshed projection says the story will keep at
least three times the brand's usual volume over the next 6 hours. Pure."""

from __future__ import annotations

from services.alerting.incidents.severity import (
    TRIPLING,
    SeverityLevel,
    is_projected_reason,
    one_level_up,
    projected_reason,
)

__all__ = ["projected_reason", "raised_level"]


def raised_level(
    level: SeverityLevel, multiple: float | None, reasons: list[str], *, raised_before: bool
) -> SeverityLevel | None:
    """One level above `level` when the story is projected to keep at least three times its
    usual volume over the next 6 hours (`multiple`), else None.

    Never lowers; never raises twice for the projection (neither after a refresh raised it
    nor when a signal's grade already took the projected step).
    """
    if multiple is None or multiple < TRIPLING or raised_before or level == "SEV1":
        return None
    if any(is_projected_reason(r) for r in reasons):
        return None
    return one_level_up(level)
