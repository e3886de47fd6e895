"""Migrations against a real PostgreSQL database that already holds data from older releases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Row, TextClause, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.sentiment.core.author_keys import author_key
from shared.db.migrate import downgrade, upgrade
from shared.settings.infra import InfraSettings

MINUTE = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)

# Rows as releases before 0005 could leave them: asyncpg stores year 1 and year 9999
# timestamps given as datetime.min / datetime.max as -infinity / infinity.
_OLD_ROWS = [
    ("m-1", ["acme"], "a1", "2026-03-02 10:15:20+00", ["recall"]),
    ("m-2", ["acme", "globex"], "a2", "2026-03-02 10:15:59+00", []),
    ("m-3", ["acme"], "a3", "-infinity", ["recall"]),
    ("m-4", ["acme"], "a4", "infinity", []),
]

_INSERT = text(
    """
    INSERT INTO mentions (platform, external_id, brand, brands, author_id, text, truncated,
        created_at, ingested_at, scored_at, likes, shares, replies, views, hashtags, language,
        language_confidence, emotions, topics, keywords, source, version)
    VALUES ('x', :external_id, :brand, CAST(:brands AS varchar[]), :author, 'text', false,
        CAST(CAST(:created AS text) AS timestamptz), now(), now(), 0, 0, 0, 0, '{}', 'en',
        1.0, '{}', CAST(:topics AS varchar[]), '{}', '{}', 1)
    """
)


Statement = tuple[str | TextClause, dict[str, Any]]


async def _execute(url: str, *statements: Statement) -> list[list[Row[Any]]]:
    """Run `statements` in autocommit mode; the rows each returned ([] when none)."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            results = []
            for sql, params in statements:
                result = await conn.execute(text(sql) if isinstance(sql, str) else sql, params)
                results.append(list(result.all()) if result.returns_rows else [])
            return results
    finally:
        await engine.dispose()


@pytest.fixture
def old_database(infra: InfraSettings) -> Iterator[str]:
    """A fresh database migrated to 0004 only; dropped at the end."""
    name = f"crisiswatch_mig_{uuid.uuid4().hex[:10]}"
    admin = infra.database_url("postgres")
    asyncio.run(_execute(admin, (f'CREATE DATABASE "{name}"', {})))
    upgrade(infra, database=name, revision="0004")
    yield name
    asyncio.run(_execute(admin, (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', {})))


def _author_keys(infra: InfraSettings, database: str) -> set[tuple[datetime, int]]:
    rows = asyncio.run(
        _execute(
            infra.database_url(database),
            ("SELECT minute, author_key FROM mention_rollup_authors", {}),
        )
    )[0]
    return {(r.minute, r.author_key) for r in rows}


def test_0005_keys_old_author_rows_and_skips_infinite_timestamps(
    infra: InfraSettings, old_database: str
) -> None:
    url = infra.database_url(old_database)
    inserts: list[Statement] = [
        (_INSERT, {"external_id": e, "brand": b[0], "brands": b, "author": a, "created": c,
                   "topics": t})
        for e, b, a, c, t in _OLD_ROWS
    ]  # fmt: skip
    asyncio.run(_execute(url, *inserts))

    upgrade(infra, database=old_database)  # must not fail on the infinite rows

    expected = {
        (MINUTE, author_key(brand, MINUTE, topic, "x", "en", author))
        for _, brands, author, created, topics in _OLD_ROWS
        if "infinity" not in created
        for brand in brands
        for topic in ("", *topics)
    }
    assert len(expected) == 4  # a1: acme x {"", recall}; a2: {acme, globex} x {""}
    assert _author_keys(infra, old_database) == expected

    # Down and up again: the old six-column table is rebuilt, then the same keys.
    downgrade(infra, database=old_database, revision="0004")
    old_pairs = asyncio.run(
        _execute(url, ("SELECT brand, topic, author_id FROM mention_rollup_authors", {}))
    )[0]
    assert {tuple(r) for r in old_pairs} == {
        ("acme", "", "a1"), ("acme", "recall", "a1"), ("acme", "", "a2"), ("globex", "", "a2"),
    }  # fmt: skip
    upgrade(infra, database=old_database)
    assert _author_keys(infra, old_database) == expected


def _partition_rows(url: str, table: str) -> dict[str, int]:
    rows = asyncio.run(
        _execute(url, (f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1", {}))
    )[0]
    return {name: count for name, count in rows}


def test_0016_partitions_existing_tables_and_back(infra: InfraSettings) -> None:
    name = f"crisiswatch_mig_{uuid.uuid4().hex[:10]}"
    admin = infra.database_url("postgres")
    asyncio.run(_execute(admin, (f'CREATE DATABASE "{name}"', {})))
    url = infra.database_url(name)
    try:
        upgrade(infra, database=name, revision="0015")
        rows = [
            ("p-1", ["acme"], "a1", "2026-03-02 10:15:20+00", ["recall"]),
            ("p-2", ["acme"], "a2", "2026-03-02 23:59:59+00", []),
            ("p-3", ["acme"], "a3", "2026-04-11 00:00:00+00", []),
            ("p-4", ["acme"], "a4", "infinity", []),
        ]
        asyncio.run(
            _execute(
                url,
                *[
                    (
                        _INSERT,
                        {
                            "external_id": e,
                            "brand": b[0],
                            "brands": b,
                            "author": a,
                            "created": c,
                            "topics": t,
                        },
                    )
                    for e, b, a, c, t in rows
                ],
                (
                    "INSERT INTO mention_rollups_hourly (brand, hour, topic, platform, language, "
                    "volume, negative, neutral, positive, unscored, sentiment_sum, anger, fear, "
                    "sadness, joy, surprise, disgust, engagement, reach) "
                    "SELECT 'acme', h, '', '*', '*', 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 "
                    "FROM generate_series("
                    "timestamptz '2026-02-27 00:00+00', timestamptz '2026-03-02 23:00+00', "
                    "interval '1 hour') h",
                    {},
                ),
            )
        )

        upgrade(infra, database=name)

        assert _partition_rows(url, "mentions") == {
            "mentions_p20260302": 2,
            "mentions_p20260411": 1,
            "mentions_default": 1,  # no day holds infinity
        }
        assert _partition_rows(url, "mention_rollups_hourly") == {
            "mention_rollups_hourly_p202602": 48,
            "mention_rollups_hourly_p202603": 48,
        }
        # Keys hold the partition key; the same post is still stored once, ids go on.
        replay = (
            _INSERT.text + " ON CONFLICT ON CONSTRAINT uq_mentions_platform_external_id DO NOTHING"
        )
        new = {"brand": "acme", "brands": ["acme"], "author": "a1", "topics": []}
        asyncio.run(
            _execute(
                url,
                (text(replay), {**new, "external_id": "p-1", "created": "2026-03-02 10:15:20+00"}),
                (text(replay), {**new, "external_id": "p-5", "created": "2026-03-02 11:00:00+00"}),
            )
        )
        ids = asyncio.run(_execute(url, ("SELECT external_id, id FROM mentions ORDER BY id", {})))[
            0
        ]
        assert [e for e, _ in ids] == ["p-1", "p-2", "p-3", "p-4", "p-5"]

        downgrade(infra, database=name, revision="0015")
        kinds = asyncio.run(
            _execute(
                url,
                ("SELECT relkind::text FROM pg_class WHERE relname = 'mentions'", {}),
                ("SELECT count(*) FROM mentions", {}),
                ("SELECT count(*) FROM mention_rollups_hourly", {}),
            )
        )
        assert [r[0][0] for r in kinds] == ["r", 5, 96]  # a plain table again, rows kept

        upgrade(infra, database=name)
        assert sum(_partition_rows(url, "mentions").values()) == 5
    finally:
        asyncio.run(_execute(admin, (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', {})))
