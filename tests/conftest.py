"""Fixtures shared by every test: the real broker, the real database, unique topics.

Also the fixtures used by more than one test folder: a started Kafka producer, incidents
written straight to the database, and the local Slack, webhook and SMTP receivers
(tests/notify_fakes.py).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.sentiment.scorers.transformer import skip_gpu_kernel_compiler
from shared.db.engine import create_engine, transaction
from shared.db.migrate import upgrade
from shared.db.models import IncidentRow
from shared.infra import manage
from shared.kafka import EventProducer, delete_topics, ensure_topics
from shared.settings.api import ApiSettings
from shared.settings.infra import InfraSettings
from shared.settings.ingest import IngestSettings
from tests.kafka_helpers import SESSION_TOPIC_PREFIX, free_port
from tests.notify_fakes import FakeHttp, SmtpServer, serve_fake

# Tests run on the CPU: torch reads Triton as absent (see skip_gpu_kernel_compiler).
skip_gpu_kernel_compiler()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraSettings]:
    """Kafka and PostgreSQL up (started here when not running already).

    At the end, this session's topics (SESSION_TOPIC_PREFIX) are deleted, so a long-lived
    broker does not collect thousands of topics and a parallel session keeps its own.
    """
    settings = InfraSettings()
    manage.up(settings)
    yield settings
    asyncio.run(delete_topics(settings.bootstrap_servers, prefix=SESSION_TOPIC_PREFIX))


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
        "topic_raw": f"{SESSION_TOPIC_PREFIX}{unique}.mentions.raw",
        "topic_scored": f"{SESSION_TOPIC_PREFIX}{unique}.mentions.scored",
        "topic_dlq": f"{SESSION_TOPIC_PREFIX}{unique}.mentions.dlq",
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
            # Pipeline tests push anonymously; the authentication tests require it explicitly.
            "ingest_require_auth": False,
        }.items():
            if key in fields:
                values[key] = value
        values.update(overrides)
        return cls(**values)

    return make


@pytest.fixture
def api_sections(
    settings_factory: Callable[..., Any],
) -> Callable[..., tuple[ApiSettings, IngestSettings]]:
    """The two settings sections `create_app(api, ingest)` takes, built by `settings_factory`.

    Each override goes to the section that declares it; common ones (Kafka, PostgreSQL,
    topics) to both, so the two sections always agree on them.
    """

    def make(**overrides: Any) -> tuple[ApiSettings, IngestSettings]:
        unknown = set(overrides) - set(ApiSettings.model_fields) - set(IngestSettings.model_fields)
        if unknown:
            raise TypeError(f"no settings field named {sorted(unknown)}")

        def share(cls: type[Any]) -> dict[str, Any]:
            return {k: v for k, v in overrides.items() if k in cls.model_fields}

        return (
            settings_factory(ApiSettings, **share(ApiSettings)),
            settings_factory(IngestSettings, **share(IngestSettings)),
        )

    return make


@pytest.fixture
async def db_engine(infra: InfraSettings, test_database: str) -> AsyncIterator[AsyncEngine]:
    """An async engine on the test database."""
    engine = create_engine(infra, database=test_database)
    yield engine
    await engine.dispose()


@pytest.fixture
async def producer(infra: InfraSettings) -> AsyncIterator[EventProducer]:
    """A started producer on the shared broker."""
    prod = EventProducer(infra.bootstrap_servers)
    await prod.start()
    yield prod
    await prod.stop()


@pytest.fixture
async def make_incident(db_engine: AsyncEngine, unique: str) -> AsyncIterator[Any]:
    """Create incidents rows directly; they (and their outbox rows) are deleted afterwards."""
    created: list[int] = []

    async def make(severity: str = "SEV1", **values: Any) -> int:
        row = IncidentRow(
            brand=values.pop("brand", f"brand-{unique}-{len(created)}"),
            topic="",
            category=values.pop("category", "safety"),
            rule=values.pop("rule", "test_rule"),
            status="open",
            severity=severity,
            title=values.pop("title", "Battery fires <reported>"),
            signal_count=1,
            scope={},
            reasons=[],
            details=values.pop("details", {"value": 120.0, "baseline": 10.0, "metric": "volume"}),
            **values,
        )
        async with transaction(db_engine) as session:
            session.add(row)
            await session.flush()
            created.append(row.id)
        return row.id

    yield make
    async with transaction(db_engine) as session:
        await session.execute(delete(IncidentRow).where(IncidentRow.id.in_(created)))


@pytest.fixture
def slack_webhook() -> Iterator[FakeHttp]:
    """A Slack incoming-webhook look-alike answering `ok`."""
    yield from serve_fake("slack_webhook")


@pytest.fixture
def slack_api() -> Iterator[FakeHttp]:
    """A Slack Web API look-alike: chat.postMessage and conversations.history."""
    yield from serve_fake("slack_api")


@pytest.fixture
def webhook_receiver() -> Iterator[FakeHttp]:
    """A webhook consumer: verifies the HMAC signature, processes each Idempotency-Key once."""
    yield from serve_fake("webhook")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server collecting messages in `inbox.messages`."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()
