"""Idempotent storage of scored mentions and their per-minute rollups in PostgreSQL.

A replayed message is a no-op: the insert skips existing (platform, external_id,
created_at) keys (the key holds the partition key; a post's created_at is fixed by its
platform) and rollups only grow for rows that were inserted in this transaction.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, repeat
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.sentiment.core.prepared import (
    ADDITIVE,
    ARRAY_COLUMNS,
    INTEGER_MEASURES,
    MENTION_COLUMNS,
    UPDATED_COLUMNS,
    PreparedMention,
    prepare,
)
from shared import serde
from shared.db.engine import driver_connection
from shared.db.models import DailyRollupRow, HourlyRollupRow, RollupRow
from shared.db.rollups import ALL_DIMENSIONS, truncate
from shared.schemas import ScoredMention


@dataclass(frozen=True, slots=True)
class StoreResult:
    """How many mentions were new, updated, or already stored."""

    inserted: int
    updated: int
    duplicates: int
    new: frozenset[tuple[str, str]] = frozenset()  # (platform, external id) of the new rows


RollupKey = tuple[str, datetime, str, str, str]
# Sums in ADDITIVE order, then the count of authors new to the row.
Measures = list[float]
_AUTHORS = len(ADDITIVE)


def rollup_increments(mentions: Sequence[PreparedMention]) -> dict[RollupKey, Measures]:
    """Per (brand, minute, topic, platform, language) sums for new mentions; topic '' = all.

    Each value is the ADDITIVE sums followed by a 0 for the authors count.
    """
    grouped: dict[RollupKey, list[tuple[float, ...]]] = defaultdict(list)
    for p in mentions:
        for key in p.rollup_keys:
            grouped[key].append(p.measures)
    return {key: [*_column_sums(rows), 0.0] for key, rows in grouped.items()}


def _column_sums(rows: Sequence[Sequence[float]]) -> Measures:
    """Column sums of equally long rows."""
    return list(map(sum, zip(*rows, strict=True)))


_STAGE = "mention_stage"
_COLUMN_LIST = ", ".join(MENTION_COLUMNS)
# A per-connection staging table with the mentions' column types (arrays as their text
# literals) and no constraints.
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS SELECT "  # noqa: S608
    + ", ".join(f"{c}::text AS {c}" if c in ARRAY_COLUMNS else c for c in MENTION_COLUMNS)
    + " FROM mentions WITH NO DATA"
)
# Move the staged rows into `mentions`; existing (platform, external_id) pairs are skipped.
_INSERT_STAGED = (
    f"WITH staged AS (DELETE FROM {_STAGE} RETURNING *) "  # noqa: S608
    f"INSERT INTO mentions ({_COLUMN_LIST}) SELECT "
    + ", ".join(f"{c}::text[]" if c in ARRAY_COLUMNS else c for c in MENTION_COLUMNS)
    + " FROM staged "
    "ON CONFLICT ON CONSTRAINT uq_mentions_platform_external_id DO NOTHING "
    "RETURNING platform, external_id"
)


async def store_scored(session: AsyncSession, batch: Sequence[ScoredMention]) -> StoreResult:
    """Upsert `batch` and grow the rollups for the new rows, inside the caller's transaction."""
    return await store_prepared(session, [prepare(s) for s in batch])


async def store_prepared(session: AsyncSession, batch: Sequence[PreparedMention]) -> StoreResult:
    """`store_scored` for mentions already reduced by `prepare` (the worker's path).

    New mentions are copied straight into `mentions`. When one of them is already stored (a
    replay), or for `updated` events, rows go through a staging table and one INSERT ... ON
    CONFLICT DO NOTHING instead; both are several times cheaper than an executemany.
    """
    latest: dict[tuple[str, str], PreparedMention] = {}
    for p in batch:
        latest[p.identity] = p  # a later event of the same mention wins
    if not latest:
        return StoreResult(0, 0, 0)
    conn = await driver_connection(session)
    created = [p for p in latest.values() if p.kind != "updated"]
    if created and await _copy_new(conn, created):
        inserted = {p.identity for p in created}
        rest = [p for p in latest.values() if p.kind == "updated"]
    else:
        inserted, rest = set(), list(latest.values())
    if rest:
        inserted |= await _insert_staged(conn, rest)
    updated = 0
    for p in rest:
        if p.kind == "updated" and p.identity not in inserted:
            updated += await _apply_update(conn, p)
    await _grow_rollups(conn, [latest[i] for i in inserted])
    duplicates = len(batch) - len(inserted) - updated
    return StoreResult(len(inserted), updated, duplicates, frozenset(inserted))


def _copy_data(rows: Sequence[PreparedMention]) -> memoryview:
    # A buffer, not bytes: the driver takes bytes for a file name.
    return memoryview(b"".join(p.copy_line for p in rows))


async def _copy_new(conn: asyncpg.Connection, rows: Sequence[PreparedMention]) -> bool:
    """COPY `rows` into `mentions`; False, with nothing written, when one is already there."""
    try:
        async with conn.transaction():  # a savepoint: a conflict undoes only this COPY
            await conn.copy_to_table(
                "mentions",
                source=_copy_data(rows),
                columns=MENTION_COLUMNS,
                format="text",
            )
    except asyncpg.UniqueViolationError:
        return False
    return True


async def _insert_staged(
    conn: asyncpg.Connection, rows: Sequence[PreparedMention]
) -> set[tuple[str, str]]:
    """Insert the rows not stored yet through the staging table; return their identities."""
    await conn.execute(_CREATE_STAGE)
    await conn.copy_to_table(
        _STAGE, source=_copy_data(rows), columns=MENTION_COLUMNS, format="text"
    )
    return {(r["platform"], r["external_id"]) for r in await conn.fetch(_INSERT_STAGED)}


_UPDATE_SQL = (
    "UPDATE mentions SET "  # noqa: S608 - column names are the constants above
    + ", ".join(
        f"{c} = ${i}::text::text[]" if c in ARRAY_COLUMNS else f"{c} = ${i}"
        for i, c in enumerate(UPDATED_COLUMNS, start=3)
    )
    + ", version = version + 1 WHERE platform = $1 AND external_id = $2"
    # The created_at minute keeps the update to the one day partition that holds the row.
    + f" AND created_at >= ${len(UPDATED_COLUMNS) + 3}"
    + f" AND created_at < ${len(UPDATED_COLUMNS) + 3} + interval '1 minute'"
)


async def _apply_update(conn: asyncpg.Connection, p: PreparedMention) -> int:
    status = await conn.execute(_UPDATE_SQL, p.platform, p.external_id, *p.update_values, p.minute)
    return int(status.rsplit(" ", 1)[-1])  # "UPDATE <count>"


_INTEGER = INTEGER_MEASURES
_COARSE: tuple[tuple[type[HourlyRollupRow] | type[DailyRollupRow], str], ...] = (
    (HourlyRollupRow, "hour"),
    (DailyRollupRow, "day"),
)


_SPAN = {"hour": "1 hour", "day": "24 hours"}  # UTC buckets: fixed lengths, no time zone
_KEY_COLUMNS = ("brand", "{time}", "topic", "platform", "language")


@functools.cache
def _additive_upsert(table: str, time_column: str, with_authors: bool) -> str:
    """INSERT ... SELECT FROM a JSON array of rows ON CONFLICT DO UPDATE adding the measures."""
    keys = [c.format(time=time_column) for c in _KEY_COLUMNS]
    columns = [*keys, *ADDITIVE, *(["distinct_authors"] if with_authors else [])]
    key_types = ["varchar", "timestamptz", "varchar", "varchar", "varchar"]
    # Measures arrive as JSON floats (sums of floats); counts are whole numbers in them.
    measure_types = ["float8::int8" if c in _INTEGER else "float8" for c in ADDITIVE]
    types = [*key_types, *measure_types, *(["float8::int4"] if with_authors else [])]
    values = ", ".join(f"(e->>{i})::{t}" for i, t in enumerate(types))
    added = [*ADDITIVE, *(["distinct_authors"] if with_authors else [])]
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in added)
    # Table and column names come from the constants above; values are bound parameters.
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "  # noqa: S608
        "FROM json_array_elements($1::text::json) AS rows(e) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


async def _upsert_additive(
    conn: asyncpg.Connection, model: Any, time_column: str, sums: dict[RollupKey, Measures]
) -> None:
    # Sorted keys: concurrent workers lock rollup rows in the same order (no deadlocks).
    rows = [[*key, *sums[key]] for key in sorted(sums)]
    sql = _additive_upsert(model.__tablename__, time_column, model is RollupRow)
    await conn.execute(sql, serde.dumps(rows).decode())


async def _grow_rollups(conn: asyncpg.Connection, new: Sequence[PreparedMention]) -> None:
    sums = rollup_increments(new)
    if not sums:
        return
    for key, count in (await _count_new_authors(conn, new)).items():
        sums[key][_AUTHORS] += count
    await _upsert_additive(conn, RollupRow, "minute", sums)
    for model, unit in _COARSE:
        grouped: dict[RollupKey, list[Measures]] = defaultdict(list)
        for (brand, minute, topic, platform, language), acc in sums.items():
            bucket = truncate(minute, unit)
            grouped[(brand, bucket, topic, platform, language)].append(acc)
            grouped[(brand, bucket, topic, ALL_DIMENSIONS, ALL_DIMENSIONS)].append(acc)
        coarse = {key: _column_sums(rows) for key, rows in grouped.items()}
        await _upsert_additive(conn, model, unit, coarse)


# Insert the (minute, author key) pairs, two int8 arrays as text literals; return the keys
# that were new. Ordered by (minute, key): concurrent workers lock in the same order.
_INSERT_AUTHORS = (
    "WITH added AS (INSERT INTO mention_rollup_authors (minute, author_key) "
    "SELECT to_timestamp(epoch), key "
    "FROM unnest($1::text::int8[], $2::text::int8[]) AS given(epoch, key) "
    "ORDER BY epoch, key ON CONFLICT DO NOTHING RETURNING author_key) "
    "SELECT coalesce(array_agg(author_key), '{}') FROM added"
)


def _int_array(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


async def _count_new_authors(
    conn: asyncpg.Connection, mentions: Sequence[PreparedMention]
) -> Counter[RollupKey]:
    """Record the authors of `mentions` per rollup key; count those not seen there before.

    The primary key makes this exact with concurrent workers: only one insert of an
    (key, author) pair succeeds, so only one worker counts it. A pair given twice is
    inserted once, so returned once.
    """
    keys = list(chain.from_iterable(p.author_keys for p in mentions))
    if not keys:
        return Counter()
    rows = dict(zip(keys, chain.from_iterable(p.rollup_keys for p in mentions), strict=True))
    epochs = chain.from_iterable(repeat(p.minute_epoch, len(p.author_keys)) for p in mentions)
    added = await conn.fetchval(_INSERT_AUTHORS, _int_array(epochs), _int_array(keys))
    return Counter(map(rows.__getitem__, added))


async def rebuild_coarse_rollups(
    session: AsyncSession, keys: Sequence[tuple[str, datetime]]
) -> None:
    """Recompute the hourly and daily rollups covering (brand, minute) keys from the minutes."""
    measures = ", ".join(ADDITIVE)
    sums = ", ".join(f"sum({c})" for c in ADDITIVE)
    for model, unit in _COARSE:
        buckets = sorted({(brand, truncate(minute, unit)) for brand, minute in keys})
        if not buckets:
            continue
        table = model.__tablename__
        params = {"brands": [b for b, _ in buckets], "buckets": [t for _, t in buckets]}
        selected = (
            "SELECT * FROM unnest(CAST(:brands AS varchar[]), CAST(:buckets AS timestamptz[]))"
        )
        # Table and column names come from the constants above; values are bound parameters.
        delete_sql = f"DELETE FROM {table} WHERE (brand, {unit}) IN ({selected})"  # noqa: S608
        await session.execute(text(delete_sql).bindparams(**params))
        for dims, group in (("r.platform, r.language", "4, 5"), ("'*', '*'", "")):
            group_by = f"1, 2, 3, {group}" if group else "1, 2, 3"
            await session.execute(
                text(
                    f"INSERT INTO {table} (brand, {unit}, topic, platform, language, {measures}) "  # noqa: S608
                    f"SELECT r.brand, k.bucket, r.topic, {dims}, {sums} "
                    "FROM unnest(CAST(:brands AS varchar[]), CAST(:buckets AS timestamptz[])) "
                    "AS k(brand, bucket) JOIN mention_rollups r ON r.brand = k.brand "
                    # A range on the minute: the key's index and its month partition only.
                    f"AND r.minute >= k.bucket AND r.minute < k.bucket + interval '{_SPAN[unit]}' "
                    f"GROUP BY {group_by}"
                ).bindparams(**params)
            )
