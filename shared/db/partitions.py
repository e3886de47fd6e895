"""Which time partitions the partitioned tables should have: pure, no I/O.

`mentions` and the rollup tables are PostgreSQL range-partitioned on their time column
(migration 0016). Widths follow the volume each table gets (docs/capacity.md):
the mentions and the minute author keys, the two tables that grow with every mention and
expire with retention, by UTC day, so retention drops whole days; the minute and hourly
rollups, kept for good and a few rows per brand-minute, by month; the daily rollups by
year. Each table also has a DEFAULT partition: a row whose partition is not there yet
(a late or far-future mention) lands there and is moved out by `partition_store.split`.

Partition names carry their start, so planning needs only the names:
`mentions_p20261204`, `mention_rollups_p202612`, `mention_rollups_daily_p2026`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Width = Literal["day", "month", "year"]

_FORMATS: dict[Width, str] = {"day": "%Y%m%d", "month": "%Y%m", "year": "%Y"}


@dataclass(frozen=True, slots=True)
class PartitionSpec:
    """One partitioned table: its time column, partition width and whether retention drops."""

    table: str
    column: str
    width: Width
    expires: bool  # True: partitions older than the retention cutoff are dropped
    ahead: int  # partitions created ahead of the one holding `now`

    @property
    def default(self) -> str:
        """Name of the table's DEFAULT partition."""
        return f"{self.table}_default"


SPECS: tuple[PartitionSpec, ...] = (
    PartitionSpec("mentions", "created_at", "day", expires=True, ahead=7),
    PartitionSpec("mention_rollup_authors", "minute", "day", expires=True, ahead=7),
    PartitionSpec("mention_rollups", "minute", "month", expires=False, ahead=2),
    PartitionSpec("mention_rollups_hourly", "hour", "month", expires=False, ahead=2),
    PartitionSpec("mention_rollups_daily", "day", "year", expires=False, ahead=1),
)
SPEC_BY_TABLE = {s.table: s for s in SPECS}


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One range partition [start, end) of `table`."""

    start: datetime
    end: datetime
    table: str
    name: str


def floor(ts: datetime, width: Width) -> datetime:
    """Start of the UTC day, month or year holding `ts`."""
    ts = ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if width == "day":
        return ts
    ts = ts.replace(day=1)
    return ts if width == "month" else ts.replace(month=1)


def following(start: datetime, width: Width) -> datetime:
    """Start of the partition after the one starting at `start`."""
    if width == "day":
        return start + timedelta(days=1)
    if width == "year":
        return start.replace(year=start.year + 1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def partition_at(spec: PartitionSpec, ts: datetime) -> Partition:
    """The partition of `spec` that holds `ts`."""
    start = floor(ts, spec.width)
    name = f"{spec.table}_p{start.strftime(_FORMATS[spec.width])}"
    return Partition(start, following(start, spec.width), spec.table, name)


def parse(spec: PartitionSpec, name: str) -> Partition | None:
    """The partition a name of ours stands for; None for the default or a foreign name."""
    prefix = f"{spec.table}_p"
    if not name.startswith(prefix):
        return None
    stamp = name.removeprefix(prefix)
    try:
        start = datetime.strptime(stamp, _FORMATS[spec.width]).replace(tzinfo=UTC)
    except ValueError:
        return None
    partition = partition_at(spec, start)
    return partition if partition.name == name else None


def between(spec: PartitionSpec, start: datetime, end: datetime) -> list[Partition]:
    """Every partition that holds part of [start, end)."""
    out: list[Partition] = []
    at = floor(start, spec.width)
    while at < end:
        out.append(partition_at(spec, at))
        at = following(at, spec.width)
    return out


def wanted(spec: PartitionSpec, now: datetime) -> list[Partition]:
    """Partitions that should exist at `now`: the previous one (late data), now's, and ahead."""
    current = floor(now, spec.width)
    previous = floor(current - timedelta(days=1), spec.width)
    last = current
    for _ in range(spec.ahead):
        last = following(last, spec.width)
    return between(spec, previous, following(last, spec.width))


def horizon(spec: PartitionSpec, now: datetime) -> datetime:
    """End of the last partition `wanted` at `now`: rows past it wait in DEFAULT."""
    return wanted(spec, now)[-1].end


def missing(spec: PartitionSpec, now: datetime, existing: Iterable[str]) -> list[Partition]:
    """The `wanted` partitions whose names are not in `existing`."""
    have = set(existing)
    return [p for p in wanted(spec, now) if p.name not in have]


def expired(spec: PartitionSpec, existing: Iterable[str], cutoff: datetime) -> list[Partition]:
    """Existing partitions whose whole range is before `cutoff` (none for kept tables).

    A partition holding the cutoff stays until its last instant expires: retention works
    in whole partitions, so rows live up to one partition width past it.
    """
    if not spec.expires:
        return []
    parsed = (parse(spec, name) for name in existing)
    return sorted(p for p in parsed if p is not None and p.end <= cutoff)
