"""Wiring of the sentiment service: build adapters from settings and run the worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry

from services.sentiment.alert_window import AlertWindow
from services.sentiment.core.enrich import Enricher
from services.sentiment.core.stories import StoryParams
from services.sentiment.metrics import SentimentMetrics
from services.sentiment.stage import EnrichStage, ProcessStage, ThreadStage
from services.sentiment.stories import StoryAssigner
from services.sentiment.worker import SentimentWorker
from shared.db.engine import create_engine, wait_for_database
from shared.db.partition_store import ensure_ahead_logged
from shared.dead_letters import DeadLetterWriter
from shared.heap import freeze_startup_objects
from shared.kafka import EventConsumer, EventProducer
from shared.metrics import MetricsServer
from shared.probes import WorkerProbes
from shared.process_metrics import register_process_metrics
from shared.settings.sentiment import SentimentSettings

log = logging.getLogger(__name__)


async def build_stage(settings: SentimentSettings, enricher: Enricher | None) -> EnrichStage:
    """Child processes when configured (the default), else a thread with `enricher`."""
    if enricher is None and settings.sentiment_enrich_processes > 0:
        pool = ProcessStage(settings, settings.sentiment_enrich_processes)
        try:
            await pool.start()
        except BaseException:
            await pool.close()
            raise
        log.info("enriching in %d child processes", settings.sentiment_enrich_processes)
        return pool
    scorer = (
        enricher
        if enricher is not None
        else await asyncio.to_thread(Enricher.from_settings, settings)
    )
    return ThreadStage(scorer)


async def serve(
    settings: SentimentSettings,
    stop: asyncio.Event,
    *,
    registry: CollectorRegistry | None = None,
    enricher: Enricher | None = None,
) -> None:
    """Run one sentiment worker until `stop` is set."""
    registry = registry or CollectorRegistry()
    metrics = SentimentMetrics(registry)
    register_process_metrics(registry, service="sentiment")
    stage = await build_stage(settings, enricher)
    try:
        await _consume(settings, stop, stage, metrics, registry)
    finally:
        await stage.close()


def build_worker(
    settings: SentimentSettings,
    stage: EnrichStage | Enricher,
    metrics: SentimentMetrics,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> SentimentWorker:
    """A worker with its own consumer, producer and database engine, from `settings`.

    The caller starts the consumer and producer and, after `run`, stops them and disposes
    of the engine (`worker.consumer`, `worker.producer`, `worker.engine`).
    """
    producer = EventProducer(settings.bootstrap_servers, client_id="crisiswatch-sentiment")
    consumer = EventConsumer(
        settings.bootstrap_servers,
        [settings.topic_raw],
        group_id=settings.sentiment_group_id,
        client_id="crisiswatch-sentiment",
        max_poll_records=settings.sentiment_batch_size,
        session_timeout_ms=int(settings.sentiment_session_timeout_s * 1000),
    )
    engine = create_engine(settings)
    # The window only changes what the transformer re-scores: no reads when it is off.
    window = (
        AlertWindow(engine, refresh_s=settings.sentiment_alert_window_refresh_s)
        if settings.sentiment_transformer_enabled
        else None
    )
    return SentimentWorker(
        consumer=consumer,
        producer=producer,
        engine=engine,
        alert_window=window,
        enricher=stage,
        metrics=metrics,
        scored_topic=settings.topic_scored,
        dead_letters=DeadLetterWriter(producer, settings.topic_dlq, stage="sentiment"),
        group_id=settings.sentiment_group_id,
        batch_size=settings.sentiment_batch_size,
        retry_max_s=settings.sentiment_retry_max_s,
        on_batch=on_batch,
        stories=StoryAssigner(
            story_params(settings),
            save_s=settings.sentiment_story_save_s,
            recheck_s=settings.sentiment_story_recheck_s,
            urgent_size=settings.sentiment_story_save_size,
        )
        if settings.sentiment_stories
        else None,
    )


def story_params(settings: SentimentSettings) -> StoryParams:
    """The story clusterer's parameters from `settings`."""
    return StoryParams(
        threshold=settings.sentiment_story_threshold,
        half_life_s=settings.sentiment_story_half_life_s,
        budget=settings.sentiment_story_budget,
        merge_threshold=settings.sentiment_story_merge_threshold,
        background=settings.sentiment_story_background,
        entity_bonus=settings.sentiment_story_entity_bonus,
        entity_penalty=settings.sentiment_story_entity_penalty,
        place_penalty=settings.sentiment_story_place_penalty,
        recent_bonus=settings.sentiment_story_recent_bonus,
        split_every=settings.sentiment_story_split_every,
        merge_named=settings.sentiment_story_merge_named,
        novel_margin=settings.sentiment_story_novel_margin,
        background_likeness=settings.sentiment_story_background_likeness,
    )


@asynccontextmanager
async def running(worker: SentimentWorker) -> AsyncIterator[None]:
    """Start the worker's Kafka clients and run it; on exit stop it and release its clients."""
    await worker.producer.start()
    await worker.consumer.start(listener=worker)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task
        await worker.consumer.stop()
        await worker.producer.stop()
        await worker.engine.dispose()


async def _consume(
    settings: SentimentSettings,
    stop: asyncio.Event,
    stage: EnrichStage,
    metrics: SentimentMetrics,
    registry: CollectorRegistry,
) -> None:
    worker = build_worker(settings, stage, metrics)
    consumer, producer, engine = worker.consumer, worker.producer, worker.engine
    probes = WorkerProbes(bootstrap_servers=settings.bootstrap_servers, engine=engine)
    metrics_server = MetricsServer(
        registry, settings.sentiment_metrics_host, settings.sentiment_metrics_port, probes=probes
    )
    # Probes answer from the start: alive, not ready until the consumer joined.
    metrics_server.start()
    try:
        await wait_for_database(engine)
        # Today's and the coming days' partitions, so the COPY goes straight to its day.
        await ensure_ahead_logged(engine)
        await producer.start()
        await consumer.start(listener=worker)
        probes.set_consuming(True)
        log.info("sentiment worker consuming %s", settings.topic_raw)
        freeze_startup_objects()
        await worker.run(stop)
    finally:
        probes.set_consuming(False)
        metrics_server.stop()
        await consumer.stop()
        await producer.stop()
        await engine.dispose()
