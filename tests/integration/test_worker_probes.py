"""The workers' metrics servers answer `/healthz` (event loop alive) and `/readyz` (PostgreSQL,
Kafka and the consumer), in the body format of the API's probes."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from services.sentiment.service import serve as serve_sentiment
from shared.db.engine import create_engine
from shared.probes import WorkerProbes
from shared.settings.alerting import AlertingSettings
from shared.settings.sentiment import SentimentSettings
from tests.detection_helpers import RunningAlerting
from tests.kafka_helpers import free_port, wait_for


async def _get(base: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        return await client.get(path)


async def _ready(base: str) -> httpx.Response:
    return await wait_for(
        lambda: _get(base, "/readyz"),
        lambda r: r.status_code == 200,
        timeout_s=120,
        ignore=(httpx.TransportError,),
    )


def _assert_ready(resp: httpx.Response) -> None:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body == {
        "ready": True,
        "status": "ok",
        "checks": {"kafka": "ok", "postgres": "ok", "consumer": "ok"},
        "required": ["consumer", "kafka", "postgres"],
    }


async def test_sentiment_worker_probes(settings_factory: Any) -> None:
    port = free_port()
    settings: SentimentSettings = settings_factory(SentimentSettings, sentiment_metrics_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_sentiment(settings, stop, registry=CollectorRegistry()))
    base = f"http://127.0.0.1:{port}"
    try:
        _assert_ready(await _ready(base))
        live = await _get(base, "/healthz")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
        metrics = await _get(base, "/metrics")
        assert metrics.status_code == 200
        assert "crisiswatch_consumer_lag_records" in metrics.text
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
    # Stopped: the port no longer answers.
    try:
        await _get(base, "/healthz")
        raise AssertionError("the probes still answer after the worker stopped")
    except httpx.TransportError:
        pass


async def test_sentiment_worker_without_postgres_is_alive_not_ready(settings_factory: Any) -> None:
    port = free_port()
    settings: SentimentSettings = settings_factory(
        SentimentSettings, sentiment_metrics_port=port, pg_port=free_port()
    )
    task = asyncio.create_task(
        serve_sentiment(settings, asyncio.Event(), registry=CollectorRegistry())
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = await wait_for(
            lambda: _get(base, "/readyz"),
            lambda r: r.status_code == 503,
            timeout_s=120,
            ignore=(httpx.TransportError,),
        )
        body = ready.json()
        assert (ready.status_code, body["ready"], body["status"]) == (503, False, "unavailable")
        assert body["checks"]["kafka"] == "ok"
        assert body["checks"]["postgres"].startswith("unavailable")
        assert body["checks"]["consumer"] == "unavailable: not consuming"
        live = await _get(base, "/healthz")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_alerting_worker_probes(settings_factory: Any) -> None:
    port = free_port()
    service = RunningAlerting(settings_factory(AlertingSettings, alerting_metrics_port=port))
    service.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _assert_ready(await _ready(base))
        service.assert_running()
        live = await _get(base, "/healthz")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})
    finally:
        await service.shutdown()


async def test_liveness_fails_while_the_event_loop_is_blocked(settings_factory: Any) -> None:
    settings: SentimentSettings = settings_factory(SentimentSettings)
    engine = create_engine(settings)
    probes = WorkerProbes(
        bootstrap_servers=settings.bootstrap_servers, engine=engine, timeout_s=0.2
    )
    probes.attach()
    try:
        answers: list[tuple[int, dict[str, Any]]] = []
        asked = threading.Thread(target=lambda: answers.append(probes.liveness()))
        asked.start()
        time.sleep(1.0)  # blocks the event loop: what a stuck worker does
        asked.join(timeout=5)
        assert answers == [(503, {"status": "unavailable", "detail": answers[0][1]["detail"]})]
        assert "did not answer within 0.2s" in answers[0][1]["detail"]
        # Unblocked, the loop answers again.
        assert await asyncio.to_thread(probes.liveness) == (200, {"status": "ok"})
    finally:
        await engine.dispose()
