"""Fixtures shared by every test: the real broker, the real database, unique topics."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db.engine import create_engine
from shared.db.migrate import upgrade
from shared.infra import manage
from shared.infra.settings import InfraSettings
from shared.kafka import delete_topics, ensure_topics

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Every topic a test creates starts with this; the session deletes them all at the end.
TEST_TOPIC_PREFIX = "test."


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraSettings]:
    """Kafka and PostgreSQL up (started here when not running already).

    At the end, every `test.` topic is deleted (this session's and any left by earlier
    ones), so a long-lived broker does not collect thousands of topics.
    """
    settings = InfraSettings()
    manage.up(settings)
    yield settings
    asyncio.run(delete_topics(settings.bootstrap_servers, prefix=TEST_TOPIC_PREFIX))


@pytest.fixture(scope="session")
def test_database(infra: InfraSettings) -> Iterator[str]:
    """A fresh, migrated database for this test session; dropped at the end."""
    name = f"crisiswatch_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(infra.database_url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    upgrade(infra, database=name)
    yield name
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topics, groups and brands of one test."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def topics(infra: InfraSettings, unique: str) -> dict[str, str]:
    """Fresh raw/scored/dlq topics for one test, so tests never see each other's records."""
    names = {
        "topic_raw": f"{TEST_TOPIC_PREFIX}{unique}.mentions.raw",
        "topic_scored": f"{TEST_TOPIC_PREFIX}{unique}.mentions.scored",
        "topic_dlq": f"{TEST_TOPIC_PREFIX}{unique}.mentions.dlq",
    }
    asyncio.run(ensure_topics(infra.bootstrap_servers, {n: 3 for n in names.values()}))
    return names


@pytest.fixture
def settings_factory(
    infra: InfraSettings, test_database: str, topics: dict[str, str], unique: str
) -> Callable[..., Any]:
    """Build any service's settings pointed at the test database and this test's topics."""

    def make(cls: type[Any], **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "pg_database": test_database,
            "kafka_bootstrap": infra.bootstrap_servers,
            **topics,
        }
        fields = getattr(cls, "model_fields", {})
        for key, value in {
            "sentiment_group_id": f"test-sentiment-{unique}",
            "alerting_group_id": f"test-alerting-{unique}",
            "sentiment_metrics_port": 0,
            "alerting_metrics_port": 0,
            # One enrichment process is the same code path as the default two, started faster.
            "sentiment_enrich_processes": 1,
        }.items():
            if key in fields:
                values[key] = value
        values.update(overrides)
        return cls(**values)

    return make


@pytest.fixture
async def db_engine(infra: InfraSettings, test_database: str) -> AsyncIterator[AsyncEngine]:
    """An async engine on the test database."""
    engine = create_engine(infra, database=test_database)
    yield engine
    await engine.dispose()
