"""Conventions of the rollup tables that the writer (sentiment) and the readers share."""

from __future__ import annotations

from datetime import datetime

# Hourly and daily rollups also hold one row per (brand, bucket, topic) summed over every
# platform and language, so unfiltered trends read a single row per bucket.
ALL_DIMENSIONS = "*"


def truncate(ts: datetime, unit: str) -> datetime:
    """Start of the UTC hour or day containing `ts`."""
    ts = ts.replace(minute=0, second=0, microsecond=0)
    return ts.replace(hour=0) if unit == "day" else ts
