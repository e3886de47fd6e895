"""An incident as the worker opens it, with stored mentions, for the incident-room tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api.conftest import RunningApi
from tests.integration.api.factories import scored, store
from tests.integration.api.notify_helpers import all_sent, dispatching, open_incident
from tests.notify_fakes import FakeHttp, notify_settings


async def opened(
    api: RunningApi, engine: AsyncEngine, slack: FakeHttp, brand: str
) -> tuple[int, str]:
    """A SEV2 incident with mentions in English and German; its Slack page's room link."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    items = [
        scored(
            brand=brand,
            external_id=f"m{n}",
            created_at=now - timedelta(minutes=n % 20),
            author=f"user{n}",
            language="de" if n % 3 == 0 else "en",
            text=f"Akku brennt {n}" if n % 3 == 0 else f"battery caught fire {n}",
            label="negative" if n % 4 else "neutral",
        )
        for n in range(40)
    ]
    await store(engine, items)
    settings = notify_settings(slack_webhook_url=slack.url, api_base_url=api.base_url)
    incident_id = await open_incident(engine, settings, brand=brand, severity="SEV2")
    async with dispatching(engine, settings):
        await all_sent(engine, incident_id, 1)
    [page] = [r.json() for r in slack.delivered() if f"#{incident_id} " in r.body.decode()]
    actions = next(b for b in page["blocks"] if b.get("block_id") == "cw_actions")
    return incident_id, actions["elements"][-1]["url"]
