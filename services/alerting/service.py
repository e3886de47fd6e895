"""Wiring of the alerting service: build adapters from settings and run the worker."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from prometheus_client import CollectorRegistry

from services.alerting.config import AlertingSettings
from services.alerting.metrics import AlertingMetrics
from services.alerting.rules import NegativeBurstRule
from services.alerting.worker import AlertingWorker
from shared.db.engine import create_engine, wait_for_database
from shared.kafka import DeadLetterWriter, EventConsumer, EventProducer
from shared.metrics import MetricsServer

log = logging.getLogger(__name__)


async def serve(
    settings: AlertingSettings, stop: asyncio.Event, *, registry: CollectorRegistry | None = None
) -> None:
    """Run the alerting worker until `stop` is set."""
    registry = registry or CollectorRegistry()
    metrics = AlertingMetrics(registry)
    metrics_server = MetricsServer(
        registry, settings.alerting_metrics_host, settings.alerting_metrics_port
    )
    engine = create_engine(settings)
    producer = EventProducer(settings.bootstrap_servers, client_id="crisiswatch-alerting")
    consumer = EventConsumer(
        settings.bootstrap_servers,
        [settings.topic_scored],
        group_id=settings.alerting_group_id,
        client_id="crisiswatch-alerting",
    )
    rule = NegativeBurstRule(
        window=timedelta(seconds=settings.burst_window_s),
        min_negative=settings.burst_min_negative,
        min_authors=settings.burst_min_authors,
        cooldown=timedelta(seconds=settings.burst_cooldown_s),
    )
    await wait_for_database(engine)
    await producer.start()
    await consumer.start()
    metrics_server.start()
    worker = AlertingWorker(
        consumer=consumer,
        engine=engine,
        rule=rule,
        metrics=metrics,
        dead_letters=DeadLetterWriter(producer, settings.topic_dlq, stage="alerting"),
    )
    log.info("alerting worker consuming %s", settings.topic_scored)
    try:
        await worker.run(stop)
    finally:
        metrics_server.stop()
        await consumer.stop()
        await producer.stop()
        await engine.dispose()
