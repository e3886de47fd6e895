"""`create_app()`: the one HTTP API, composed of the routers the services own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.api import errors, health
from services.api.config import ApiSettings
from services.ingest import routes as ingest_routes
from services.ingest.component import IngestComponent
from shared.db.engine import create_engine


def create_app(settings: ApiSettings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the API app; Kafka and PostgreSQL connections open in its lifespan."""
    registry = registry or CollectorRegistry()
    ingest = IngestComponent(settings, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        await ingest.start()
        try:
            yield
        finally:
            await ingest.stop()
            await engine.dispose()

    app = FastAPI(
        title="crisiswatch",
        version="0.1.0",
        description="Social listening and crisis detection: push mentions, query trends, "
        "work incidents.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.bootstrap_servers = settings.bootstrap_servers
    ingest.attach(app)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(ingest_routes.router)
    return app
