"""Fixtures of the HTTP API tests: a real app on a free port, and one key per role."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from shared.db.engine import transaction
from shared.http.keys import create_key
from shared.http.server import serve_app
from shared.settings.alerting import AlertingSettings
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tests.kafka_helpers import free_port, wait_for

ROLES = ("viewer", "responder", "admin", "ingest")


@dataclass
class RunningApi:
    """A served app: its base URL, its two settings sections and one key per role."""

    base_url: str
    settings: ApiSettings
    ingest: IngestSettings
    keys: dict[str, str]

    def client(self, role: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client sending `role`'s key (no key when role is None)."""
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30, **kwargs)


async def make_keys(engine: AsyncEngine, unique: str) -> dict[str, str]:
    """Create one key per role in the test database."""
    out: dict[str, str] = {}
    async with transaction(engine) as session:
        for role in ROLES:
            _, secret = await create_key(session, f"test-{role}-{unique}", role, actor="test")
            out[role] = secret
    return out


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    """Settings overrides of the served app (tests override this fixture)."""
    return {}


@pytest.fixture
def api_alerting() -> dict[str, Any]:
    """Overrides of the alerting section the served app is built with (preset, proposals)."""
    return {}


@pytest.fixture
async def api(
    api_sections: Callable[..., tuple[ApiSettings, IngestSettings]],
    db_engine: AsyncEngine,
    unique: str,
    api_overrides: dict[str, Any],
    api_alerting: dict[str, Any],
) -> AsyncIterator[RunningApi]:
    """The API served on 127.0.0.1 on a free port until the test ends."""
    values: dict[str, Any] = {
        "retention_interval_s": 0,
        "api_rate_burst": 10_000,
        "api_rate_per_s": 1000.0,
        **api_overrides,
    }
    settings, ingest = api_sections(**values)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_app(
            create_app(
                settings,
                ingest,
                registry=CollectorRegistry(),
                alerting=AlertingSettings(**api_alerting),
            ),
            host="127.0.0.1",
            port=port,
            stop=stop,
        )
    )
    keys = await make_keys(db_engine, unique)
    running = RunningApi(f"http://127.0.0.1:{port}", settings, ingest, keys)
    try:
        async with running.client() as client:
            ready = await wait_for(
                lambda: client.get("/healthz"),
                lambda r: r.status_code == 200,
                ignore=(httpx.TransportError,),
                timeout_s=30,
                interval_s=0.02,
            )
            assert ready.status_code == 200
        yield running
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=30)
