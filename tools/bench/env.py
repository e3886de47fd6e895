"""A throw-away benchmark environment: its own topics and its own migrated database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.migrate import upgrade
from shared.kafka import delete_topics, ensure_topics
from shared.settings.common import CommonSettings

SettingsT = TypeVar("SettingsT", bound=CommonSettings)


@dataclass(frozen=True)
class BenchEnv:
    """Names of this run's topics and database."""

    run_id: str
    database: str
    bootstrap: str
    base: CommonSettings

    def topic(self, name: str) -> str:
        """A topic name private to this run."""
        return f"bench.{self.run_id}.{name}"

    async def new_topics(self, *names: str, partitions: int = 6) -> list[str]:
        """Create fresh topics for one measurement."""
        topics = [self.topic(f"{n}.{uuid.uuid4().hex[:6]}") for n in names]
        await ensure_topics(self.bootstrap, dict.fromkeys(topics, partitions))
        return topics

    def settings(self, cls: type[SettingsT], **overrides: Any) -> SettingsT:
        """Settings of any service pointed at this run's database."""
        return cls(pg_database=self.database, kafka_bootstrap=self.bootstrap, **overrides)


async def _admin(settings: CommonSettings, sql: str) -> None:
    engine = create_async_engine(settings.database_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@asynccontextmanager
async def bench_env(settings: CommonSettings | None = None) -> AsyncIterator[BenchEnv]:
    """Create a migrated database for the run; drop it and the run's topics afterwards."""
    base = settings or CommonSettings()
    run_id = uuid.uuid4().hex[:8]
    database = f"crisiswatch_bench_{run_id}"
    await _admin(base, f'CREATE DATABASE "{database}"')
    try:
        import asyncio

        await asyncio.to_thread(upgrade, base, database=database)
        yield BenchEnv(run_id, database, base.bootstrap_servers, base)
    finally:
        await _drop(base, database)
        await delete_topics(base.bootstrap_servers, prefix=f"bench.{run_id}.")


async def _drop(settings: CommonSettings, database: str, attempts: int = 20) -> None:
    """Drop the run's database. FORCE ends our own sessions but may not end an autovacuum
    worker (a superuser process) that is busy in it: wait for that to finish and retry."""
    from sqlalchemy.exc import ProgrammingError

    from shared.resilience import Backoff, retry

    def busy(exc: BaseException) -> bool:
        return isinstance(exc, ProgrammingError) and "pg_signal_backend" in str(exc)

    await retry(
        lambda: _admin(settings, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'),
        retry_if=busy,
        backoff=Backoff(base_s=0.25, cap_s=2.0),
        attempts=attempts,
    )
