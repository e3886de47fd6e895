"""The ingest component: watchlists (reloaded), producer, publisher, the ingest path and the
push authentication; the ingest service and the API each attach one to their app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.core.watchlist import WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.pipeline import Ingestor
from services.ingest.publisher import MentionPublisher
from services.ingest.sources.push_auth import PushAuthenticator
from services.ingest.watchlist_db import READ_ERRORS, PgWatchlists
from shared.dead_letters import DeadLetterWriter
from shared.errors import BrokerUnavailable, ConfigError
from shared.kafka import EventProducer
from shared.resilience import Backoff, StopRequested, retry
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)


class IngestComponent:
    """Owns the Kafka producer and the watchlists; attach it to an app's state.

    `start()` loads the watchlists and keeps them current (file changes and the stored
    watchlists are polled every `watchlist_poll_s`, SIGHUP reloads the files at once),
    whichever app runs the component. With an engine, the stored watchlists (written by
    `PUT /v1/watchlists`) are merged over the files (`core/watchlist.py`). With
    `kafka_optional` (the API, whose other routes need only PostgreSQL) a broker that is
    down at start-up does not stop the start: the producer connects in the background
    (back-off with jitter) and pushes answer 503 until it has.
    """

    def __init__(
        self,
        settings: IngestSettings,
        registry: CollectorRegistry,
        *,
        watchlists: WatchlistStore | None = None,
        kafka_optional: bool = False,
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
        self.authenticator = PushAuthenticator.from_settings(settings)
        self._kafka_optional = kafka_optional
        self._stop = asyncio.Event()
        self._watching: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._sighup = False

    def attach(self, app: FastAPI) -> None:
        """Expose settings, the ingest path and the push authenticator to the routes."""
        app.state.ingest_settings = self.settings
        app.state.ingestor = self.ingestor
        app.state.push_authenticator = self.authenticator

    async def start(self, engine: AsyncEngine | None = None) -> None:
        """Load the watchlists (`ConfigError` names file and field), keep them current and
        connect the producer; with `engine`, the stored watchlists too."""
        if not self.watchlists.configured:
            self.watchlists.load()
        if engine is not None:
            self.watchlists.use_stored(PgWatchlists(engine))
            try:
                await self.watchlists.refresh_stored()
            except READ_ERRORS as exc:
                # Not fatal: the watch loop keeps trying; until then the files alone match.
                self._watchlist_error(exc)
        self._stop.clear()
        self._watching = asyncio.create_task(
            self.watchlists.watch(self._stop, on_error=self._watchlist_error)
        )
        self._sighup = _install_sighup(self.watchlists)
        try:
            await self.producer.start()
        except BrokerUnavailable as exc:
            if not self._kafka_optional:
                raise
            log.warning("Kafka is unavailable, pushes answer 503 until it is back: %s", exc)
            self._connecting = asyncio.create_task(self._connect_later())

    async def _connect_later(self) -> None:
        """Start the producer once the broker answers (until `stop()`)."""

        def note(error: BaseException, seconds: float, attempt: int) -> None:
            log.info("Kafka still unavailable (attempt %d), next try in %.1fs", attempt, seconds)

        try:
            await retry(
                self.producer.start,
                retry_if=lambda exc: isinstance(exc, BrokerUnavailable),
                backoff=Backoff(base_s=1.0, cap_s=30.0),
                stop=self._stop,
                before_sleep=note,
            )
        except StopRequested:
            return
        log.info("Kafka is back: pushes are accepted again")

    def _watchlist_error(self, exc: BaseException) -> None:
        self.metrics.watchlist_errors.inc()
        log.warning("stored watchlists not loaded: %s", exc)

    async def stop(self) -> None:
        """Stop watching the watchlists; flush and close the producer."""
        self._stop.set()
        if self._sighup:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        watching, self._watching = self._watching, None
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            await connecting  # returns once `_stop` is set, or once connected
        try:
            await self.producer.stop()
        finally:
            if watching is not None:
                await watching  # returns once `_stop` is set; a crash surfaces here


def _install_sighup(watchlists: WatchlistStore) -> bool:
    """Reload `watchlists` on SIGHUP; False where signals cannot be handled (not the main
    thread, not Unix)."""

    def reload() -> None:
        try:
            watchlists.reload()
        except ConfigError as exc:
            log.error("watchlist reload refused: %s", exc)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        return False
    return True
