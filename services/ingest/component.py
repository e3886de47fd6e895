"""The ingest component: watchlists, producer, publisher and the shared ingest path."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.ingest.auth import PushAuthenticator
from services.ingest.core.watchlist import WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.pipeline import Ingestor
from services.ingest.publisher import MentionPublisher
from services.ingest.push import BrandResolver
from shared.kafka import DeadLetterWriter, EventProducer
from shared.settings.ingest import IngestSettings


class IngestComponent:
    """Owns the Kafka producer and the watchlists; attach it to an app's state."""

    def __init__(
        self,
        settings: IngestSettings,
        registry: CollectorRegistry,
        *,
        brand_resolver: BrandResolver | None = None,
        watchlists: WatchlistStore | None = None,
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
        self.watchlists = watchlists or WatchlistStore(
            settings.watchlist_dir, poll_s=settings.watchlist_poll_s
        )
        self.ingestor = Ingestor(
            settings=settings,
            publisher=self.publisher,
            watchlists=self.watchlists,
            metrics=self.metrics,
        )
        self.brand_resolver: BrandResolver = brand_resolver or self.ingestor.resolve
        self.authenticator = PushAuthenticator(
            secret=settings.push_hmac_secret,
            api_keys=settings.ingest_api_keys,
            max_age_s=settings.signature_max_age_s,
            required=settings.ingest_require_auth,
        )

    def attach(self, app: FastAPI) -> None:
        """Expose settings, publisher, resolver and ingest path to the routes (`app.state`)."""
        app.state.ingest_settings = self.settings
        app.state.publisher = self.publisher
        app.state.brand_resolver = self.brand_resolver
        app.state.ingestor = self.ingestor
        app.state.push_authenticator = self.authenticator

    async def start(self) -> None:
        """Load the watchlists (`ConfigError` names file and field) and connect the producer."""
        if not self.watchlists.configured:
            self.watchlists.load()
        await self.producer.start()

    async def stop(self) -> None:
        """Flush and close the producer."""
        await self.producer.stop()
