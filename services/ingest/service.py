"""Wiring of the ingest service: push and webhook endpoints plus the connectors, one process
of N replicas (each connector runs on the replica holding its lease)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.component import IngestComponent
from services.ingest.cursors import FencedCursorStore, PgCursorStore
from services.ingest.lease_store import PgLeaseStore
from services.ingest.sources import meta, push
from services.ingest.sources.base import SourceContext
from services.ingest.sources.connectors import run_connectors
from services.ingest.sources.leasing import ConnectorLeases
from shared.db.engine import create_engine
from shared.http import errors, health, openapi
from shared.http.health import Readiness
from shared.http.observe import HttpMetrics, RequestObserver
from shared.http.server import serve_app
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)


def create_ingest_app(
    settings: IngestSettings,
    *,
    registry: CollectorRegistry | None = None,
    component: IngestComponent | None = None,
    engine: AsyncEngine | None = None,
) -> FastAPI:
    """The ingest HTTP app: push endpoint, Meta webhooks, health and metrics.

    With `component` given, its caller starts and stops it (it is shared with connectors).
    With `engine`, pushes may also authenticate with database API keys.
    """
    registry = registry or CollectorRegistry()
    owned = component is None
    component = component or IngestComponent(settings, registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owned:
            await component.start(engine)
        try:
            yield
        finally:
            if owned:
                await component.stop()

    app = FastAPI(
        title="crisiswatch ingest",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
    )
    openapi.install(app, models=push.OPENAPI_MODELS)
    app.state.registry = registry
    # Ingest exists to produce to Kafka; PostgreSQL (cursors, database keys) is optional.
    app.state.readiness = Readiness(settings.bootstrap_servers, required=frozenset({"kafka"}))
    if engine is not None:
        app.state.engine = engine
    component.attach(app)
    errors.install(app)
    app.add_middleware(RequestObserver, metrics=HttpMetrics(registry, service="ingest"))
    app.include_router(health.router)
    app.include_router(push.router)
    app.include_router(meta.router)
    return app


async def serve(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Serve the ingest app and run the connectors until `stop` is set."""
    registry = CollectorRegistry()
    component = IngestComponent(settings, registry)
    engine = create_engine(settings)
    try:
        # Invalid watchlist files fail here, naming file and field.
        await component.start(engine)
    except BaseException:
        await engine.dispose()
        raise
    app = create_ingest_app(settings, registry=registry, component=component, engine=engine)
    context = SourceContext(
        settings=settings,
        watchlists=component.watchlists,
        cursors=PgCursorStore(engine),
        ingestor=component.ingestor,
    )
    # Every replica asks for every connector's lease; the holder runs it (push scales freely).
    leases = ConnectorLeases.from_settings(
        settings,
        PgLeaseStore(engine),
        lambda lease, on_lost: FencedCursorStore(engine, lease, on_lost=on_lost),
        component.metrics,
    )
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(run_connectors(context, stop, leases=leases))
            group.create_task(
                serve_app(app, host=settings.ingest_host, port=settings.ingest_port, stop=stop)
            )
    finally:
        await component.stop()
        await engine.dispose()
