"""Time ranges of analytics queries and the rollup table (minute, hour, day) that answers them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement

from services.analytics.schemas import Resolution
from shared.db.models import DailyRollupRow, HourlyRollupRow, RollupRow
from shared.db.rollups import ALL_DIMENSIONS, truncate
from shared.errors import BadInput

# Longest range per resolution, so one call returns at most a few thousand points per brand.
MAX_RANGE: dict[str, timedelta] = {
    "minute": timedelta(days=3),
    "hour": timedelta(days=400),
    "day": timedelta(days=3660),
}


def utc_range(start: datetime, end: datetime, *, max_span: timedelta) -> tuple[datetime, datetime]:
    """Validate an aware [start, end) range no longer than `max_span`; return it in UTC."""
    try:
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadInput("start/end are outside the supported date range") from exc
    if start_utc >= end_utc:
        raise BadInput("start must be before end")
    if end_utc - start_utc > max_span:
        raise BadInput(f"the range may span at most {max_span.days} days at this resolution")
    return start_utc, end_utc


@dataclass(frozen=True)
class RollupSource:
    """Which rollup table answers a query, and its time column."""

    model: Any
    time: Any

    def column(self, name: str) -> Any:
        """A column of the chosen table."""
        return getattr(self.model, name)


MINUTE_ROLLUPS = RollupSource(RollupRow, RollupRow.minute)
HOUR_ROLLUPS = RollupSource(HourlyRollupRow, HourlyRollupRow.hour)
DAY_ROLLUPS = RollupSource(DailyRollupRow, DailyRollupRow.day)


def _aligned(ts: datetime, unit: str) -> bool:
    return ts == truncate(ts, unit)


def rollup_source(start: datetime, end: datetime, resolution: Resolution | None) -> RollupSource:
    """The coarsest rollup table that answers [start, end) exactly at `resolution`."""
    if resolution == "minute":
        return MINUTE_ROLLUPS
    if resolution in (None, "day") and _aligned(start, "day") and _aligned(end, "day"):
        return DAY_ROLLUPS
    if _aligned(start, "hour") and _aligned(end, "hour"):
        return HOUR_ROLLUPS
    return MINUTE_ROLLUPS


def align_range(
    start: datetime, end: datetime, resolution: Resolution
) -> tuple[datetime, datetime]:
    """Widen [start, end) to whole buckets: bucketed series always show complete buckets."""
    if resolution == "minute":
        unit_start = start.replace(second=0, microsecond=0)
        ceil = end.replace(second=0, microsecond=0)
        step = timedelta(minutes=1)
    else:
        unit_start = truncate(start, resolution)
        ceil = truncate(end, resolution)
        step = timedelta(hours=1) if resolution == "hour" else timedelta(days=1)
    if ceil < end:
        ceil += step
    return unit_start, ceil


def dimension_filters(
    source: RollupSource, *, topic: str, platforms: Sequence[str], languages: Sequence[str]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [source.column("topic") == topic]
    platform, language = source.column("platform"), source.column("language")
    if source is not MINUTE_ROLLUPS and not platforms and not languages:
        # Unfiltered: the precomputed all-dimensions rows, one per bucket.
        return [*conditions, platform == ALL_DIMENSIONS, language == ALL_DIMENSIONS]
    if platforms:
        conditions.append(platform.in_([p for p in platforms if p != ALL_DIMENSIONS]))
    elif source is not MINUTE_ROLLUPS:
        conditions.append(platform != ALL_DIMENSIONS)
    if languages:
        conditions.append(language.in_([lang for lang in languages if lang != ALL_DIMENSIONS]))
    elif source is not MINUTE_ROLLUPS:
        conditions.append(language != ALL_DIMENSIONS)
    return conditions
