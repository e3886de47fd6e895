"""`create_app()`: the one HTTP API, composed of the routers the services own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.alerting import routes as alerting_routes
from services.analytics import routes as sentiment_routes
from services.api import admin as admin_routes
from services.api.privacy import retention_loop
from services.ingest import watchlist_routes
from services.ingest.component import IngestComponent
from services.ingest.sources import push as push_routes
from shared.db.engine import create_engine
from shared.heap import freeze_startup_objects
from shared.http import errors, health
from shared.http.limits import BodySizeLimit
from shared.http.ratelimit import RateLimiter
from shared.process_metrics import register_process_metrics
from shared.settings.api import ApiSettings

DESCRIPTION = """Social listening and crisis detection: push mentions, query trends, work
incidents.

**Authentication**: send an API key as `X-API-Key: cwk_...` or `Authorization: Bearer cwk_...`.
Roles: `viewer` (trends, share of voice, rising terms, mention search) < `responder`
(incidents, playbooks) < `admin` (watchlists, rules, campaigns, keys, privacy, audit log).
`ingest` keys may only push mentions. 401 without a valid key, 403 for a role too low,
429 with `Retry-After` when a key exceeds its rate, 413 for oversized bodies.
`/healthz`, `/readyz` and `/metrics` need no key.

**Market**: mentions carry no country, so `market` filters are language codes.
"""


def create_app(settings: ApiSettings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the API app; Kafka and PostgreSQL connections open in its lifespan."""
    registry = registry or CollectorRegistry()
    register_process_metrics(registry, service="api")
    # The push route is the ingest service's own (`services/ingest/sources/push.py`), with
    # the same authentication and watchlist reloading; `api_require_auth` also requires it.
    ingest = IngestComponent(
        settings, registry, require_auth=settings.api_require_auth or settings.ingest_require_auth
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        await ingest.start()
        stop = asyncio.Event()
        purger = None
        if settings.retention_interval_s > 0:
            purger = asyncio.create_task(
                retention_loop(
                    engine,
                    retention=timedelta(days=settings.retention_days),
                    interval_s=settings.retention_interval_s,
                    stop=stop,
                )
            )
        freeze_startup_objects()
        try:
            yield
        finally:
            stop.set()
            if purger is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(purger, timeout=10)
            await ingest.stop()
            await engine.dispose()

    app = FastAPI(
        title="crisiswatch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.bootstrap_servers = settings.bootstrap_servers
    app.state.api_settings = settings
    app.state.rate_limiter = RateLimiter(
        rate_per_s=settings.api_rate_per_s, burst=settings.api_rate_burst
    )
    ingest.attach(app)
    errors.install(app)
    app.add_middleware(
        BodySizeLimit, default_limit=settings.api_max_body_bytes, push_limit=settings.max_body_bytes
    )
    app.include_router(health.router)
    app.include_router(push_routes.router)
    app.include_router(sentiment_routes.router)
    app.include_router(alerting_routes.router)
    app.include_router(watchlist_routes.router)
    app.include_router(admin_routes.router)
    return app
