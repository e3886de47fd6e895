"""A private PostgreSQL cluster stopped under load: the worker pauses, commits nothing, catches up.

The shared cluster 15/main is never touched: the test creates cluster 15/cwfaults on a free
port, migrates it, stops it for `OUTAGE_S` seconds while mentions keep arriving, and drops
it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import serde
from shared.db.engine import create_engine
from shared.db.migrate import upgrade
from shared.infra import postgres
from shared.kafka import EventProducer
from shared.settings.infra import InfraSettings
from shared.settings.sentiment import SentimentSettings
from tests.fault_helpers import (
    PRIVATE_PG_CLUSTER,
    WorkerProcess,
    assert_exactly_once,
    committed_offsets,
    drop_pg_cluster,
    free_ports,
    mentions,
    pg_cluster,
    poll_until,
    produce,
    service_env,
    stored_counts,
)

OUTAGE_S = 8.0  # how long PostgreSQL stays down (several retries at the 2 s back-off cap)
RATE_PER_S = 100  # offered load during the whole test
BEFORE = 1000


@pytest.fixture
def private_pg() -> Iterator[InfraSettings]:
    """A migrated PostgreSQL cluster of its own (dropped afterwards)."""
    drop_pg_cluster()
    (port,) = free_ports(1)
    settings = InfraSettings(pg_cluster=PRIVATE_PG_CLUSTER, pg_port=port)
    try:
        postgres.start(settings)
        upgrade(settings)
        yield settings
    finally:
        drop_pg_cluster()


@pytest.fixture
async def private_engine(private_pg: InfraSettings) -> AsyncIterator[Any]:
    """An engine on the private cluster."""
    engine = create_engine(private_pg)
    yield engine
    await engine.dispose()


async def test_database_outage_pauses_worker_without_committing_then_catches_up(
    private_pg: InfraSettings,
    private_engine: Any,
    settings_factory: Any,
    unique: str,
    tmp_path: Path,
) -> None:
    brand = f"pg-{unique}"
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        pg_port=private_pg.pg_port,
        pg_database=private_pg.pg_database,
        sentiment_batch_size=100,
        sentiment_retry_max_s=2.0,
    )
    bootstrap, group, topic = (
        settings.bootstrap_servers,
        settings.sentiment_group_id,
        settings.topic_raw,
    )
    items = mentions(brand, BEFORE + int(RATE_PER_S * (OUTAGE_S + 10)))
    await produce(bootstrap, topic, items[:BEFORE])
    worker = WorkerProcess(service_env(settings), tmp_path / "worker.log")
    worker.start()
    feeder: asyncio.Task[None] | None = None
    try:
        await poll_until(
            lambda: _rows(private_engine, brand, BEFORE),
            timeout_s=90,
            what="the first mentions to be stored",
        )
        feeder = asyncio.create_task(_feed(bootstrap, topic, items[BEFORE:]))
        await asyncio.to_thread(pg_cluster, "stop")
        down_at = time.monotonic()
        # The worker notices on its next batch and starts backing off.
        await poll_until(
            lambda: "postgres" in worker.log() and "retrying" in worker.log(),
            timeout_s=30,
            what="the worker to report PostgreSQL unavailable",
        )
        frozen = await committed_offsets(bootstrap, group)
        samples = 0
        while time.monotonic() - down_at < OUTAGE_S:
            assert worker.alive(), f"worker died during the outage:\n{worker.log()[-3000:]}"
            now = await committed_offsets(bootstrap, group)
            assert now == frozen, f"offsets committed while PostgreSQL was down: {frozen} -> {now}"
            samples += 1
            await asyncio.sleep(0.5)  # sampling interval of the outage window, not a settle wait
        assert samples >= 10
        await asyncio.to_thread(pg_cluster, "start")
        await feeder
        await poll_until(
            lambda: _rows(private_engine, brand, len(items)),
            timeout_s=120,
            what="the worker to catch up after the outage",
        )
        assert worker.alive()
        log = worker.log()
        assert "Traceback" not in log, log[-3000:]
        assert_exactly_once(
            await stored_counts(private_engine, brand), {m.external_id for m in items}
        )
    finally:
        if feeder is not None and not feeder.done():
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
        worker.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(pg_cluster, "start")


async def _feed(bootstrap: str, topic: str, items: list[Any]) -> None:
    """Produce at RATE_PER_S in 10 steps per second (the offered load)."""
    step = max(1, RATE_PER_S // 10)
    loop = asyncio.get_running_loop()
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        start = loop.time()
        for n, i in enumerate(range(0, len(items), step)):
            chunk = items[i : i + step]
            await producer.send_many(topic, [(m.key, serde.dumps(m)) for m in chunk])
            delay = start + (n + 1) * 0.1 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        await producer.stop()


async def _rows(engine: Any, brand: str, count: int) -> bool:
    try:
        return (await stored_counts(engine, brand)).rows >= count
    except OSError:
        return False
