"""Fixtures of the ingest integration tests: a started ingest component on this test's topics,
cursors in the test database, and local platform servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from services.ingest.component import IngestComponent
from services.ingest.core.watchlist import Watchlist, WatchlistStore
from services.ingest.cursors import PgCursorStore
from services.ingest.sources.base import Source, SourceContext
from shared.http.server import serve_app
from shared.settings.ingest import IngestSettings
from tests.kafka_helpers import free_port

ACME = {
    "brand": "acme",
    "aliases": ["Acme", "アクメ"],
    "exclusions": ["acme of perfection"],
}


@pytest.fixture
def make_context(
    settings_factory: Callable[..., Any], db_engine: AsyncEngine
) -> Callable[..., Any]:
    """Build (settings, component, context) with the given watchlist and setting overrides."""
    started: list[IngestComponent] = []

    @contextlib.asynccontextmanager
    async def make(
        watchlist: dict[str, Any], **overrides: Any
    ) -> AsyncIterator[tuple[IngestSettings, IngestComponent, SourceContext]]:
        settings: IngestSettings = settings_factory(
            IngestSettings, fetch_allow_private=True, backoff_scale=0.01, **overrides
        )
        store = WatchlistStore.of([Watchlist.model_validate(watchlist)])
        component = IngestComponent(settings, CollectorRegistry(), watchlists=store)
        await component.start()
        started.append(component)
        context = SourceContext(
            settings=settings,
            watchlists=store,
            cursors=PgCursorStore(db_engine),
            ingestor=component.ingestor,
        )
        try:
            yield settings, component, context
        finally:
            await component.stop()

    return make


@contextlib.asynccontextmanager
async def local_server(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` on a free 127.0.0.1 port; yield its base URL."""
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_app(app, host="127.0.0.1", port=port, stop=stop))
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/__ping")
                break
            await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def running(source: Source, context: SourceContext) -> AsyncIterator[asyncio.Event]:
    """Run `source` in the background through the shared ingest path; stop it at exit."""
    stop = asyncio.Event()

    async def emit(items: Any) -> bool:
        return await context.ingestor.emit_until_accepted(items, source=source.name, stop=stop)

    task = asyncio.create_task(source.run(emit, stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
