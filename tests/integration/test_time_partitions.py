"""Time partitions against a real PostgreSQL: rows land, stray rows move, retention drops whole
days, and the trend query reads only the partitions of its range.

Each test has a database of its own: partitions are catalog-wide, and dropping expired days
must not touch the shared test database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.analytics import trends
from services.api.privacy import housekeep, purge_expired
from shared.db import partition_store
from shared.db.engine import create_engine, driver_connection, transaction
from shared.db.migrate import upgrade
from shared.db.partitions import SPEC_BY_TABLE, between, partition_at
from shared.settings.infra import InfraSettings
from tests.integration.api.factories import scored, store

MENTIONS = SPEC_BY_TABLE["mentions"]
HOURLY = SPEC_BY_TABLE["mention_rollups_hourly"]


async def _admin(infra: InfraSettings, sql: str) -> None:
    engine = create_async_engine(infra.database_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
async def own_db(infra: InfraSettings) -> AsyncIterator[AsyncEngine]:
    """A fresh database at the newest revision, dropped afterwards."""
    name = f"crisiswatch_part_{uuid.uuid4().hex[:10]}"
    await _admin(infra, f'CREATE DATABASE "{name}"')
    import asyncio

    await asyncio.to_thread(upgrade, infra, database=name)
    engine = create_engine(infra, database=name)
    try:
        yield engine
    finally:
        await engine.dispose()
        await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _placement(engine: AsyncEngine, table: str = "mentions") -> dict[str, int]:
    """Rows per partition of `table`."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")
        )
        return {name: count for name, count in rows.all()}


async def _partitions(engine: AsyncEngine, table: str) -> set[str]:
    async with transaction(engine) as session:
        return await partition_store.existing(session, SPEC_BY_TABLE[table])


async def test_rows_of_a_new_day_land_in_default_then_move_to_their_partition(
    own_db: AsyncEngine,
) -> None:
    day = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # no partition for it yet
    batch = [scored(brand="acme", external_id=f"m{i}", created_at=day) for i in range(3)]
    assert (await store(own_db, batch)).inserted == 3
    assert await _placement(own_db) == {"mentions_default": 3}

    created = await partition_store.split_default(
        own_db, MENTIONS, since=day - timedelta(days=1), until=day + timedelta(days=1)
    )
    assert created == ["mentions_p20260610"]
    assert await _placement(own_db) == {"mentions_p20260610": 3}

    # The moved partition has the parent's keys: a replay is still a no-op, new rows land.
    again = await store(own_db, batch)
    assert (again.inserted, again.duplicates) == (0, 3)
    later = [scored(brand="acme", external_id="m9", created_at=day + timedelta(hours=3))]
    assert (await store(own_db, later)).inserted == 1
    assert await _placement(own_db) == {"mentions_p20260610": 4}
    # Rollups went to their month's partition's DEFAULT and are kept whole.
    async with own_db.connect() as conn:
        volume = await conn.scalar(
            text("SELECT sum(volume) FROM mention_rollups WHERE brand = 'acme' AND topic = ''")
        )
    assert volume == 4


async def test_ensure_ahead_creates_today_and_the_coming_days_once(own_db: AsyncEngine) -> None:
    now = datetime.now(UTC)
    created = await partition_store.ensure_ahead(own_db, now=now)
    today = partition_at(MENTIONS, now).name
    assert today in created and partition_at(HOURLY, now).name in created
    assert await partition_store.ensure_ahead(own_db, now=now) == []
    item = scored(brand="acme", external_id="now", created_at=now)
    assert (await store(own_db, [item])).inserted == 1
    assert await _placement(own_db) == {today: 1}


async def test_retention_drops_whole_expired_days_only(own_db: AsyncEngine) -> None:
    now = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    first = now - timedelta(days=10)
    async with transaction(own_db) as session:
        await partition_store.ensure(session, MENTIONS, between(MENTIONS, first, now))
        authors = SPEC_BY_TABLE["mention_rollup_authors"]
        await partition_store.ensure(session, authors, between(authors, first, now))
    items = [
        scored(
            brand="acme", external_id=f"d{d}", created_at=now - timedelta(days=d), author=f"a{d}"
        )
        for d in range(11)
    ]
    items.append(scored(brand="acme", external_id="ancient", created_at=now - timedelta(days=400)))
    await store(own_db, items)
    assert (await _placement(own_db))["mentions_default"] == 1

    async with transaction(own_db) as session:
        report = await purge_expired(session, timedelta(days=5), now=now)
    # Cutoff 11-29 09:30: days up to 11-28 are wholly older; 11-29 holds the cutoff and stays.
    days = ["20261124", "20261125", "20261126", "20261127", "20261128"]
    assert sorted(report.partitions_dropped) == sorted(
        [f"mentions_p{d}" for d in days] + [f"mention_rollup_authors_p{d}" for d in days]
    )
    assert report.mentions_deleted == 5 + 1  # five dropped days and the DEFAULT's ancient row
    left = await _placement(own_db)
    assert "mentions_p20261129" in left and "mentions_default" not in left
    assert sum(left.values()) == 6  # 11-29 .. 12-04
    assert not await _partitions(own_db, "mentions") & {f"mentions_p{d}" for d in days}
    async with own_db.connect() as conn:  # rollups are kept
        volume = await conn.scalar(
            text("SELECT sum(volume) FROM mention_rollups_daily WHERE brand = 'acme' "
                 "AND topic = '' AND platform = '*'")
        )  # fmt: skip
    assert volume == 12


async def test_housekeeping_moves_default_rows_and_creates_ahead(own_db: AsyncEngine) -> None:
    now = datetime.now(UTC)
    recent = now - timedelta(days=20)
    await store(own_db, [scored(brand="acme", external_id="r", created_at=recent)])
    assert await _placement(own_db) == {"mentions_default": 1}
    report = await housekeep(own_db, timedelta(days=365))
    assert report.mentions_deleted == 0
    assert await _placement(own_db) == {partition_at(MENTIONS, recent).name: 1}
    assert await _placement(own_db, "mention_rollups") == {
        partition_at(SPEC_BY_TABLE["mention_rollups"], recent).name: 1
    }
    assert partition_at(MENTIONS, now + timedelta(days=7)).name in await _partitions(
        own_db, "mentions"
    )


async def test_trend_query_reads_only_the_partitions_of_its_range(own_db: AsyncEngine) -> None:
    end = datetime(2026, 12, 4, tzinfo=UTC)
    months = between(HOURLY, end - timedelta(days=365), end + timedelta(days=1))
    async with transaction(own_db) as session:
        await partition_store.ensure(session, HOURLY, months)
        await session.execute(
            text(
                "INSERT INTO mention_rollups_hourly (brand, hour, topic, platform, language, "
                "volume, negative, neutral, positive, unscored, sentiment_sum, anger, fear, "
                "sadness, joy, surprise, disgust, engagement, reach) "
                "SELECT 'acme', h, '', '*', '*', 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 "
                "FROM generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz), "
                "interval '1 hour') AS h"
            ),
            {"start": end - timedelta(days=365), "end": end - timedelta(hours=1)},
        )
        await session.execute(text("ANALYZE mention_rollups_hourly"))
    start = end - timedelta(days=90)
    sql, args = trends.trend_query(brands=["acme"], start=start, end=end, resolution="hour")
    async with transaction(own_db) as session:
        conn = await driver_connection(session)
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
        result = await trends.trends(
            session, brands=["acme"], start=start, end=end, resolution="hour"
        )
    named = {p.name for p in months if p.name in plan}
    expected = {p.name for p in between(HOURLY, start, end)}
    assert (
        named
        == expected
        == {
            "mention_rollups_hourly_p202609",
            "mention_rollups_hourly_p202610",
            "mention_rollups_hourly_p202611",
            "mention_rollups_hourly_p202612",
        }
    )
    assert "mention_rollups_hourly_default" not in plan
    assert result.series[0].total_volume == 90 * 24
