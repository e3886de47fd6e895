"""A crisis through the real alerting worker: the incident API and Slack show its projection.

Hours of calm then a recall crisis (the streaming detection replay of
`tests.detection_helpers`) go through Kafka to the running alerting service, which stores
the incident with the projection of its volume signal and sends its Slack page to a local
Slack Web API look-alike; the served API and the incident room page show that projection.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.service import serve as serve_alerting
from shared.db.engine import transaction
from shared.db.models import IncidentRow, OutboxRow
from shared.kafka import EventProducer
from shared.settings.alerting import AlertingSettings
from tests.detection_helpers import CALM_HOURS, Stream, floor_minute, incidents, publish
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, notify_settings


async def test_incident_api_and_slack_page_carry_the_projection(
    api: RunningApi,
    settings_factory: Callable[..., Any],
    producer: EventProducer,
    db_engine: AsyncEngine,
    slack_api: FakeHttp,
    unique: str,
) -> None:
    brand = f"proj-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=20)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    crisis = stream.crisis(crisis_start, 19)
    settings = settings_factory(
        AlertingSettings, alerting_checkpoint_s=0.5, alerting_idle_flush_s=3.0
    )
    slack = notify_settings(
        slack_bot_token="xoxb-test",
        slack_channel="C0PROJECT",
        slack_api_base=slack_api.url,
        routes={level: ["slack"] for level in ("SEV1", "SEV2", "SEV3", "SEV4")},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_alerting(settings, stop, registry=CollectorRegistry(), notify_settings=slack)
    )
    try:
        await publish(db_engine, producer, settings.topic_scored, calm + crisis)
        found = await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=120)
        assert found, "the crisis opened no incident"
        incident_id = found[0].id

        async def projection() -> dict[str, Any] | None:
            async with api.client("responder") as client:
                response = await client.get(f"/v1/incidents/{incident_id}")
            assert response.status_code == 200, response.text
            return response.json()["projection"]

        projected = await wait_for(projection, bool, timeout_s=30)
        assert projected is not None
        assert [o["hours"] for o in projected["outlooks"]] == [1, 6, 24]
        for o in projected["outlooks"]:
            assert 0 <= o["low"] <= o["expected"] <= o["high"]
        assert projected["last_hour"] > 0
        assert projected["trend"] in ("rising", "steady", "peaking", "declining")
        assert projected["line"].startswith("~")

        def pages() -> list[str]:
            return [
                str(r.json()) for r in slack_api.delivered() if r.path.endswith("chat.postMessage")
            ]

        sent = await wait_for(lambda: _async(pages), bool, timeout_s=30)
        assert any("Projected" in p and projected["line"] in p for p in sent), sent

        async with api.client(follow_redirects=True) as browser:
            room = await browser.post(
                "/incidents/login",
                data={"api_key": api.keys["viewer"], "next": f"/incidents/{incident_id}"},
            )
        assert room.status_code == 200, room.text
        assert '<p id="projection"><strong>Projected:</strong> ' in room.text
        assert html.escape(projected["line"]) in room.text
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        async with transaction(db_engine) as session:
            ids = list(
                (
                    await session.scalars(select(IncidentRow.id).where(IncidentRow.brand == brand))
                ).all()
            )
            await session.execute(delete(OutboxRow).where(OutboxRow.incident_id.in_(ids)))
            await session.execute(delete(IncidentRow).where(IncidentRow.id.in_(ids)))


async def _async(fn: Callable[[], list[str]]) -> list[str]:
    return fn()
