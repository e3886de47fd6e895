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
from services.alerting.incidents.metrics import IncidentMetrics
from services.alerting.room import routes as room_routes
from services.analytics import routes as sentiment_routes
from services.api import admin as admin_routes
from services.api.privacy import retention_loop
from services.ingest import watchlist_routes
from services.ingest.component import IngestComponent
from services.ingest.sources import push as push_routes
from shared.db.engine import create_engine
from shared.db.partition_store import ensure_ahead_logged
from shared.errors import ConfigError
from shared.heap import freeze_startup_objects
from shared.http import errors, health, openapi
from shared.http.health import Readiness
from shared.http.limits import BodySizeLimit
from shared.http.observe import HttpMetrics, RequestObserver
from shared.http.ratelimit import RateLimiter
from shared.process_metrics import register_process_metrics
from shared.settings.alerting import AlertingSettings
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings

DESCRIPTION = """Social listening and crisis detection: push mentions, query trends, work
incidents.

**Authentication**: send an API key as `X-API-Key: cwk_...` or `Authorization: Bearer cwk_...`.
Roles: `viewer` (trends, share of voice, rising terms, mention search) < `responder`
(incidents, playbooks) < `admin` (watchlists, rules, campaigns, keys, privacy, audit log).
`ingest` keys may only push mentions. 401 without a valid key, 403 for a role too low,
429 with `Retry-After` when a key exceeds its rate, 413 for oversized bodies.

**Rate limits**: a token bucket per key and API process; every answer to a key carries
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`. With N
API replicas a key may send up to N times the configured rate (a per-replica budget).
`/healthz`, `/readyz` and `/metrics` need no key.

**Market**: a mention's markets (countries, ISO 3166-1 alpha-2) are set by its source, else
mapped from its language by the watchlist of its brand (`language_markets`); `market` filters
select the mentions of those countries.

**Errors**: every error answer is a problem-details object (RFC 9457,
`application/problem+json`, schema `Problem`): `type`, `title`, `status`, `detail` (what went
wrong), `instance` (the path), `request_id`, and for invalid fields `errors`. Each answer
carries `X-Request-ID` (sent by the client or minted) to quote when reporting a problem.
"""

TAGS = [
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
    {"name": "ingest", "description": "Push mentions (keys of role `ingest` or `admin`)."},
    {"name": "trends", "description": "Volume, sentiment, share of voice, rising terms."},
    {"name": "incidents", "description": "Detected crises: triage, assign, resolve, review."},
    {"name": "playbooks", "description": "Response playbooks and their runs."},
    {"name": "rules", "description": "Detection rules: write, validate, dry-run."},
    {
        "name": "brands",
        "description": "Per-brand detection preset, notification routes, tuning proposals.",
    },
    {"name": "campaigns", "description": "Planned campaigns that explain expected spikes."},
    {"name": "watchlists", "description": "Brands, aliases, exclusions and sources."},
    {"name": "keys", "description": "API keys and their roles."},
    {"name": "privacy", "description": "Erasure requests and the retention purge."},
    {"name": "audit", "description": "Who changed what."},
    {
        "name": "slack",
        "description": "Slack interactivity: message buttons and the slash command, "
        "authenticated by Slack's request signature instead of an API key.",
    },
]


def create_app(
    api: ApiSettings,
    ingest: IngestSettings,
    *,
    registry: CollectorRegistry | None = None,
    alerting: AlertingSettings | None = None,
) -> FastAPI:
    """Build the API app from its two settings sections (the API's own and the ingest section
    of the push route); Kafka and PostgreSQL connections open in its lifespan.

    `alerting` is the alerting service's section (from the environment when not given): its
    default preset is the one a brand without its own runs with, and its proposal policy
    says when dismissals propose a less sensitive one.
    """
    differing = api.differing_common_fields(ingest)
    if differing:
        # One process, one broker and one database: two sections that disagree are a bug.
        raise ConfigError(f"the api and ingest settings disagree on {', '.join(differing)}")
    registry = registry or CollectorRegistry()
    register_process_metrics(registry, service="api")
    # The push route is the ingest service's own (`services/ingest/sources/push.py`), with
    # the same authentication and watchlist reloading.
    component = IngestComponent(ingest, registry, kafka_optional=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(api)
        app.state.engine = engine
        await component.start(engine)
        if api.retention_interval_s <= 0:  # else the retention loop's first tick does it
            await ensure_ahead_logged(engine)
        stop = asyncio.Event()
        purger = None
        if api.retention_interval_s > 0:
            purger = asyncio.create_task(
                retention_loop(
                    engine,
                    retention=timedelta(days=api.retention_days),
                    interval_s=api.retention_interval_s,
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
            await component.stop()
            await engine.dispose()

    app = FastAPI(
        title="crisiswatch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=TAGS,
        generate_unique_id_function=openapi.operation_id,
    )
    openapi.install(app, models=push_routes.OPENAPI_MODELS)
    app.state.registry = registry
    # Trends, incidents and admin need PostgreSQL only; without Kafka the API stays ready
    # (degraded) and only the push route answers 503.
    app.state.readiness = Readiness(api.bootstrap_servers, required=frozenset({"postgres"}))
    app.state.api_settings = api
    app.state.incident_metrics = IncidentMetrics(registry)
    app.state.alerting_settings = alerting or AlertingSettings()
    app.state.rate_limiter = RateLimiter(rate_per_s=api.api_rate_per_s, burst=api.api_rate_burst)
    component.attach(app)
    errors.install(app)
    app.add_middleware(
        BodySizeLimit, default_limit=api.api_max_body_bytes, push_limit=ingest.max_body_bytes
    )
    # Outermost: request ids, request logs and metrics cover every answer, 413s included.
    app.add_middleware(RequestObserver, metrics=HttpMetrics(registry, service="api"))
    app.include_router(health.router)
    app.include_router(push_routes.router)
    app.include_router(sentiment_routes.router)
    app.include_router(alerting_routes.router)
    app.include_router(room_routes.router)
    app.include_router(watchlist_routes.router)
    app.include_router(admin_routes.router)
    return app
