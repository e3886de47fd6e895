"""A private Kafka broker restarted during steady pushes: 503 + Retry-After, then nothing lost.

The shared broker is never touched: this test starts its own broker on free ports and points
an API app (the push endpoint) at it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from shared import serde
from shared.http.server import serve_app
from shared.infra import kafka_broker
from shared.schemas import Mention
from tests.fault_helpers import poll_until, private_kafka_settings
from tests.kafka_helpers import SESSION_TOPIC_PREFIX, free_port, read_topic, wait_for


def _item(brand: str, i: int) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"push-{i}",
        "author": f"user{i % 7}",
        "text": f"steady chatter number {i} about the product",
        "created_at": datetime.now(UTC).isoformat(),
        "brands": [brand],
    }


async def test_push_during_broker_restart_gets_503_then_loses_nothing(
    api_sections: Any, unique: str, tmp_path: Path
) -> None:
    brand = f"kr-{unique}"
    topics = {
        "topic_raw": f"{SESSION_TOPIC_PREFIX}faults.{unique}.raw",
        "topic_scored": f"{SESSION_TOPIC_PREFIX}faults.{unique}.scored",
        "topic_dlq": f"{SESSION_TOPIC_PREFIX}faults.{unique}.dlq",
    }
    broker = private_kafka_settings(tmp_path / "kafka", topics)
    await asyncio.to_thread(kafka_broker.start, broker)
    stop = asyncio.Event()
    server: asyncio.Task[None] | None = None
    try:
        api, ingest = api_sections(
            kafka_bootstrap=broker.bootstrap_servers,
            kafka_send_timeout_s=3.0,
            retry_after_s=2,
            retention_interval_s=0,
            **topics,
        )
        port = free_port()
        app = create_app(api, ingest, registry=CollectorRegistry())
        server = asyncio.create_task(serve_app(app, host="127.0.0.1", port=port, stop=stop))
        accepted: set[str] = set()
        unavailable: list[httpx.Response] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            ready = await wait_for(
                lambda: client.get("/healthz"),
                lambda r: r.status_code == 200,
                ignore=(httpx.TransportError,),
            )
            assert ready.status_code == 200

            async def push(i: int) -> httpx.Response:
                resp = await client.post("/v1/mentions", json=[_item(brand, i)])
                if resp.status_code == 202:
                    accepted.add(f"push-{i}")
                elif resp.status_code == 503:
                    unavailable.append(resp)
                else:
                    raise AssertionError(f"unexpected {resp.status_code}: {resp.text}")
                return resp

            counter = iter(range(10**6))
            for _ in range(20):  # steady ingest before the fault
                assert (await push(next(counter))).status_code == 202

            await asyncio.to_thread(kafka_broker.stop, broker)
            down = await push(next(counter))
            assert down.status_code == 503, down.text
            assert int(down.headers["Retry-After"]) == 2
            pending = [i for i in range(next(counter), next(counter) + 5)]

            await asyncio.to_thread(kafka_broker.start, broker)
            # A client honouring Retry-After retries each refused item until it is accepted.
            for i in pending:
                await poll_until(
                    lambda i=i: _accepted(push, i),
                    timeout_s=90,
                    interval_s=2.0,
                    what=f"push {i} to be accepted after the broker restart",
                )
            for _ in range(20):  # steady ingest after the fault
                assert (await push(next(counter))).status_code == 202
        assert unavailable, "no push was refused while the broker was down"
        assert all(r.headers.get("Retry-After") for r in unavailable)
        records = await read_topic(
            broker.bootstrap_servers, topics["topic_raw"], expected=len(accepted), timeout_s=60
        )
        in_topic = {serde.decode(Mention, r.value).external_id for r in records}
        assert accepted <= in_topic, f"accepted but lost: {sorted(accepted - in_topic)[:5]}"
    finally:
        stop.set()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server, timeout=30)
        await asyncio.to_thread(kafka_broker.stop, broker)


async def _accepted(push: Any, i: int) -> bool:
    return bool((await push(i)).status_code == 202)
