"""Create, split and drop the time partitions that `shared.db.partitions` plans.

Every call takes the caller's session and runs inside its transaction, after taking one
transaction-scoped advisory lock (services that start together do not race on the same
CREATE) and with a short lock timeout: DDL on a partitioned table waits for the writers'
locks, and a queued DDL would block every later writer. A timeout is an error the caller
logs; rows meanwhile land in the DEFAULT partition, so none are lost.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db.engine import transaction
from shared.db.partitions import (
    SPECS,
    Partition,
    PartitionSpec,
    expired,
    missing,
    partition_at,
)
from shared.resilience import DB_ERRORS

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key: "crisiswatch.partitions" as a stable 64-bit integer.
_LOCK_KEY = 0x63775F7061727473
LOCK_TIMEOUT = "5s"

_EXISTING = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = CAST(:table AS regclass)"
)


def _literal(ts: datetime) -> str:
    """A timestamptz literal for a partition bound (DDL takes no bound parameters)."""
    return "'" + ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00") + "'"


async def _prepare(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_LOCK_KEY))
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


async def existing(session: AsyncSession, spec: PartitionSpec) -> set[str]:
    """Names of the partitions `spec.table` has now (its DEFAULT included)."""
    return set((await session.scalars(_EXISTING.bindparams(table=spec.table))).all())


async def _create(session: AsyncSession, spec: PartitionSpec, part: Partition) -> None:
    """Create `part`; rows of its range already in the DEFAULT partition move into it."""
    where = f"{spec.column} >= {_literal(part.start)} AND {spec.column} < {_literal(part.end)}"
    bounds = f"FOR VALUES FROM ({_literal(part.start)}) TO ({_literal(part.end)})"
    # Names and bounds come from the partition plan, never from input.
    stray = await session.scalar(
        text(f"SELECT EXISTS (SELECT 1 FROM {spec.default} WHERE {where})")  # noqa: S608
    )
    if not stray:
        await session.execute(
            text(f"CREATE TABLE IF NOT EXISTS {part.name} PARTITION OF {spec.table} {bounds}")
        )
        return
    # Moved in one transaction, then attached: ATTACH builds the parent's indexes on it.
    await session.execute(text(f"CREATE TABLE {part.name} (LIKE {spec.table} INCLUDING DEFAULTS)"))
    await session.execute(
        text(
            f"WITH moved AS (DELETE FROM {spec.default} WHERE {where} RETURNING *) "  # noqa: S608
            f"INSERT INTO {part.name} SELECT * FROM moved"
        )
    )
    await session.execute(text(f"ALTER TABLE {spec.table} ATTACH PARTITION {part.name} {bounds}"))


async def ensure(
    session: AsyncSession, spec: PartitionSpec, partitions: list[Partition]
) -> list[str]:
    """Create those of `partitions` that do not exist yet; return their names."""
    await _prepare(session)
    have = await existing(session, spec)
    created = []
    for part in partitions:
        if part.name not in have:
            await _create(session, spec, part)
            created.append(part.name)
    return created


async def create_each(
    engine: AsyncEngine, spec: PartitionSpec, partitions: list[Partition]
) -> list[str]:
    """`ensure` one partition per transaction: the parent's lock is held for one CREATE."""
    created: list[str] = []
    for part in partitions:
        async with transaction(engine) as session:
            created += await ensure(session, spec, [part])
    return created


async def ensure_ahead(engine: AsyncEngine, *, now: datetime | None = None) -> list[str]:
    """Create the partitions every table should have at `now` (start-up and each tick)."""
    at = now or datetime.now(UTC)
    created: list[str] = []
    for spec in SPECS:
        async with transaction(engine) as session:
            have = await existing(session, spec)
        created += await create_each(engine, spec, missing(spec, at, have))
    return created


async def split_default(
    engine: AsyncEngine, spec: PartitionSpec, *, since: datetime, until: datetime
) -> list[str]:
    """Move the DEFAULT partition's rows in [since, until) into partitions of their own."""
    unit = spec.width
    async with transaction(engine) as session:
        starts = await session.scalars(
            text(
                f"SELECT DISTINCT date_trunc('{unit}', {spec.column}, 'UTC') "  # noqa: S608
                f"FROM {spec.default} WHERE isfinite({spec.column}) "
                f"AND {spec.column} >= :since AND {spec.column} < :until"
            ).bindparams(since=since, until=until)
        )
        parts = sorted({partition_at(spec, s) for s in starts.all()})
    return await create_each(engine, spec, parts)


async def drop_expired(
    session: AsyncSession, spec: PartitionSpec, cutoff: datetime
) -> tuple[list[str], int]:
    """Drop the partitions wholly before `cutoff`, delete older DEFAULT rows; (names, rows)."""
    await _prepare(session)
    old = expired(spec, await existing(session, spec), cutoff)
    rows = 0
    for part in old:
        rows += int(await session.scalar(text(f"SELECT count(*) FROM {part.name}")) or 0)  # noqa: S608
        await session.execute(text(f"DROP TABLE {part.name}"))
    # The DEFAULT partition stays small (maintenance moves its rows out): a plain DELETE.
    deleted = await session.execute(
        text(f"DELETE FROM {spec.default} WHERE {spec.column} < :cutoff").bindparams(  # noqa: S608
            cutoff=cutoff
        )
    )
    rows += int(getattr(deleted, "rowcount", 0) or 0)
    return [p.name for p in old], rows


async def ensure_ahead_logged(engine: AsyncEngine) -> None:
    """`ensure_ahead` at start-up; a failure is logged, not raised."""
    try:
        created = await ensure_ahead(engine)
    except DB_ERRORS as exc:  # start-up goes on: rows land in DEFAULT meanwhile
        log.warning("creating partitions ahead failed: %s: %s", type(exc).__name__, exc)
        return
    if created:
        log.info("created partitions %s", ", ".join(created))
