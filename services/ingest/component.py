"""The ingest push component: producer, dead-letter writer and publisher with their lifecycle."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.ingest.config import IngestSettings
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import MentionPublisher
from services.ingest.push import BrandResolver, brands_from_payload
from shared.kafka import DeadLetterWriter, EventProducer


class IngestComponent:
    """Owns the Kafka producer used by the push endpoint; attach it to an app's state."""

    def __init__(
        self,
        settings: IngestSettings,
        registry: CollectorRegistry,
        *,
        brand_resolver: BrandResolver = brands_from_payload,
    ) -> None:
        self.settings = settings
        self.metrics = IngestMetrics(registry)
        self.producer = EventProducer(
            settings.bootstrap_servers,
            client_id="crisiswatch-ingest",
            send_timeout_s=settings.kafka_send_timeout_s,
        )
        self.publisher = MentionPublisher(
            self.producer,
            topic=settings.topic_raw,
            dead_letters=DeadLetterWriter(self.producer, settings.topic_dlq, stage="ingest"),
            metrics=self.metrics,
        )
        self.brand_resolver = brand_resolver

    def attach(self, app: FastAPI) -> None:
        """Expose settings, publisher and resolver to the routes through `app.state`."""
        app.state.ingest_settings = self.settings
        app.state.publisher = self.publisher
        app.state.brand_resolver = self.brand_resolver

    async def start(self) -> None:
        """Connect the producer (raises `BrokerUnavailable` when Kafka is down)."""
        await self.producer.start()

    async def stop(self) -> None:
        """Flush and close the producer."""
        await self.producer.stop()
