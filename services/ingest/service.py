"""Wiring of the ingest service: the push endpoint (and connectors) in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.api import errors, health
from services.api.server import serve_app
from services.ingest import routes
from services.ingest.component import IngestComponent
from services.ingest.config import IngestSettings


def create_ingest_app(settings: IngestSettings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """The ingest service's own HTTP app: push endpoint, health and metrics."""
    registry = registry or CollectorRegistry()
    component = IngestComponent(settings, registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await component.start()
        try:
            yield
        finally:
            await component.stop()

    app = FastAPI(title="crisiswatch ingest", version="0.1.0", lifespan=lifespan)
    app.state.registry = registry
    app.state.bootstrap_servers = settings.bootstrap_servers
    component.attach(app)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(routes.router)
    return app


async def serve(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Serve the ingest app until `stop` is set."""
    app = create_ingest_app(settings)
    await serve_app(app, host=settings.ingest_host, port=settings.ingest_port, stop=stop)
