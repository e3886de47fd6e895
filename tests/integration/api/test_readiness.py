"""Readiness reflects what the API needs: PostgreSQL. Kafka down = degraded, still ready."""

from __future__ import annotations

from typing import Any

import pytest

from shared.http.health import judge
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import free_port


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    """Kafka is a port nobody listens on: the broker is down from the start."""
    return {"kafka_bootstrap": f"127.0.0.1:{free_port()}"}


async def test_api_without_kafka_stays_ready_and_serves_postgres_work(api: RunningApi) -> None:
    async with api.client() as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] is True
    assert body["status"] == "degraded"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["kafka"].startswith("unavailable")
    assert body["required"] == ["postgres"]

    async with api.client("responder") as client:
        assert (await client.get("/v1/incidents")).status_code == 200
    async with api.client("viewer") as client:
        trends = await client.get(
            "/v1/trends",
            params={
                "brand": "acme",
                "start": "2026-11-01T00:00:00Z",
                "end": "2026-11-02T00:00:00Z",
                "resolution": "hour",
            },
        )
        assert trends.status_code == 200, trends.text
    async with api.client("ingest") as client:
        pushed = await client.post("/v1/mentions", json=[{"text": "x"}])
    assert pushed.status_code == 503
    assert "Retry-After" in pushed.headers


def test_readiness_follows_the_required_dependencies() -> None:
    down = {"kafka": "unavailable: BrokerUnavailable", "postgres": "ok"}
    assert judge(down, frozenset({"postgres"})).model_dump()["status"] == "degraded"
    assert judge(down, frozenset({"postgres"})).ready
    ingest = judge(down, frozenset({"kafka"}))
    assert not ingest.ready and ingest.status == "unavailable"
    no_database = judge({"kafka": "ok"}, frozenset({"postgres"}))
    assert not no_database.ready
    assert judge({"kafka": "ok", "postgres": "ok"}, frozenset({"kafka"})).status == "ok"
