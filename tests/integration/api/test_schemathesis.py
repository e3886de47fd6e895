"""Property-based requests generated from the OpenAPI document: no 5xx for any input."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from prometheus_client import CollectorRegistry
from sqlalchemy import delete

from services.api.app import create_app
from shared.db.config_models import PlaybookRow, RuleRow, WatchlistRow
from shared.db.engine import create_engine, transaction
from shared.http.server import serve_app
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tests.integration.api.conftest import make_keys
from tests.kafka_helpers import free_port

# CI runs a fixed set of examples (derandomised, so a run never fails by chance); set
# CRISISWATCH_FUZZ_SEED to explore other inputs, and CRISISWATCH_FUZZ_EXAMPLES for more.
EXAMPLES_PER_OPERATION = int(os.environ.get("CRISISWATCH_FUZZ_EXAMPLES", "25"))
FUZZ_SEED = os.environ.get("CRISISWATCH_FUZZ_SEED")
# Revoking keys by guessed ids would revoke the key this test runs with.
SKIP = {("DELETE", "/v1/keys/{key_id}")}


class ThreadedServer:
    """The app served by uvicorn in a thread with its own event loop (hypothesis is sync)."""

    def __init__(self, api: ApiSettings, ingest: IngestSettings) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.app = create_app(api, ingest, registry=CollectorRegistry())
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(
            serve_app(self.app, host="127.0.0.1", port=self.port, stop=self.stop)
        )

    def __enter__(self) -> str:
        self.thread.start()
        base = f"http://127.0.0.1:{self.port}"
        with httpx.Client(base_url=base) as client:
            for _ in range(200):
                try:
                    if client.get("/healthz").status_code == 200:
                        return base
                except httpx.TransportError:
                    pass
                self.thread.join(timeout=0.1)
        raise AssertionError("API did not start")

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)


@pytest.fixture
def served(api_sections: Callable[..., Any], unique: str) -> Iterator[tuple[str, str]]:
    """(base URL, admin key) of an app served in a thread."""
    settings, ingest = api_sections(
        retention_interval_s=0, api_rate_burst=1_000_000, api_rate_per_s=1e6
    )

    async def admin_key() -> str:
        engine = create_engine(settings)
        try:
            return (await make_keys(engine, f"st-{unique}"))["admin"]
        finally:
            await engine.dispose()

    async def forget_configuration() -> None:
        # Fuzzed watchlists, rules and playbooks are live configuration the workers of later tests
        # would load (random brands matched, random rules evaluated): remove them.
        engine = create_engine(settings)
        try:
            async with transaction(engine) as session:
                await session.execute(delete(WatchlistRow))
                await session.execute(delete(RuleRow))
                await session.execute(delete(PlaybookRow))
        finally:
            await engine.dispose()

    key = asyncio.run(admin_key())
    try:
        with ThreadedServer(settings, ingest) as base:
            yield base, key
    finally:
        asyncio.run(forget_configuration())


@pytest.mark.slow
def test_openapi_fuzz_finds_no_server_error(served: tuple[str, str]) -> None:
    base, key = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            derandomize=FUZZ_SEED is None,
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers={"X-API-Key": key}, timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> "
                    f"{response.status_code}: {response.text[:200]} "
                    f"query={case.query} body={case.body!r:.200}"
                )

        (seed(int(FUZZ_SEED))(check) if FUZZ_SEED else check)()
    assert not failures, "\n".join(failures[:20])
