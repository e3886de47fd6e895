"""Async SQLAlchemy engine and session factory over asyncpg."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.errors import InfraError
from shared.resilience import Backoff
from shared.settings.common import CommonSettings


def create_engine(
    settings: CommonSettings, *, database: str | None = None, application_name: str = "crisiswatch"
) -> AsyncEngine:
    """Build the async engine for the configured database (no connection is made yet).

    `application_name` names its sessions in `pg_stat_activity` (PostgreSQL keeps 63 bytes).
    """
    return create_async_engine(
        settings.database_url(database),
        pool_size=settings.pg_pool_size,
        max_overflow=settings.pg_pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed on success, rolled back on error."""
    async with session_factory(engine)() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Run `SELECT 1`; raise `InfraError` when PostgreSQL does not answer."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, DBAPIError, OperationalError) as exc:
        raise InfraError(f"PostgreSQL is not reachable: {type(exc).__name__}") from exc


async def wait_for_database(engine: AsyncEngine, *, timeout_s: float = 30.0) -> None:
    """Poll `SELECT 1` until PostgreSQL answers or `timeout_s` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    backoff = Backoff(base_s=0.2, cap_s=2.0)
    while True:
        try:
            await ping(engine)
            return
        except InfraError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(min(backoff.next_delay(), max(deadline - loop.time(), 0.05)))


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's open transaction.

    For bulk paths (COPY, array parameters) that SQLAlchemy's executemany makes slow. The
    transaction is started first, so driver calls commit or roll back with the session.
    """
    await session.execute(text("SELECT 1"))  # the adapter begins its transaction lazily
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, asyncpg.Connection):
        raise TypeError(f"expected an asyncpg connection, got {type(driver).__name__}")
    return driver
