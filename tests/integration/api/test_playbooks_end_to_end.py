"""A playbook edited through the API is what the next incident runs, without a restart.

The real API, sentiment and alerting services on real Kafka and PostgreSQL: with the
alerting service already running, an admin replaces the generic playbook; mentions pushed
afterwards open an incident whose playbook run has the edited steps, whose holding
statements (API) and first Slack page quote the edited text.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.playbooks.loader import default_playbooks
from services.alerting.playbooks.store import as_document
from services.alerting.service import serve as serve_alerting
from services.sentiment.service import serve as serve_sentiment
from shared.db.config_models import PlaybookRow
from shared.db.engine import transaction
from shared.db.models import IncidentRow, PlaybookRunRow, PlaybookStepRow
from shared.settings.alerting import AlertingSettings
from shared.settings.sentiment import SentimentSettings
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, notify_settings

POLL_S = 0.5
# Negative, and about no crisis topic: the incident is a generic one.
NEGATIVE = [
    "I really hate {b}, such an awful and terrible company.",
    "{b} is the worst, so disappointing and horrible.",
    "Miserable and useless, {b} made me so angry today.",
    "Awful awful {b}, I regret everything, terrible.",
]


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"watchlist_poll_s": POLL_S}


@pytest.fixture
async def workers(
    settings_factory: Any, slack_webhook: FakeHttp, db_engine: AsyncEngine
) -> AsyncIterator[CollectorRegistry]:
    """The sentiment and alerting services (Slack by incoming webhook); playbooks cleared."""
    registry = CollectorRegistry()
    sentiment: SentimentSettings = settings_factory(SentimentSettings)
    alerting: AlertingSettings = settings_factory(
        AlertingSettings,
        alerting_rules_poll_s=POLL_S,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=2.0,
        alerting_lateness_s=1.0,
    )
    notify = notify_settings(slack_webhook_url=f"{slack_webhook.url}/hook")
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(serve_sentiment(sentiment, stop, registry=CollectorRegistry())),
        asyncio.create_task(
            serve_alerting(alerting, stop, registry=registry, notify_settings=notify)
        ),
    ]
    try:
        yield registry
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)
        async with transaction(db_engine) as session:
            await session.execute(delete(PlaybookRow))


def _item(n: int, text: str, at: datetime, author: str, unique: str) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"pb-{unique}-{n}",
        "author": author,
        "text": text,
        "language": "en",
        "created_at": at.isoformat(),
    }


async def test_edited_playbook_runs_on_the_next_incident(
    api: RunningApi,
    workers: CollectorRegistry,
    db_engine: AsyncEngine,
    slack_webhook: FakeHttp,
    unique: str,
) -> None:
    brand, name = f"grumbl-{unique}", f"Grumbl{unique}"
    rule_name = f"grumbl-negatives-{unique}"
    generic = copy.deepcopy(as_document(default_playbooks()["generic"]))
    generic["steps"][0]["title"] = f"Page the {unique} duty officer"
    generic["holding_statements"]["en"] = "{brand} hears you and is on it (" + unique + ")."
    rule_id: int | None = None
    async with api.client("admin") as admin:
        try:
            # The alerting service is running: the edit must reach it without a restart.
            resp = await admin.put("/v1/playbooks/generic", json=generic)
            assert resp.status_code == 200, resp.text
            watchlist = {"brand": brand, "aliases": [name], "languages": ["en"]}
            assert (await admin.put(f"/v1/watchlists/{brand}", json=watchlist)).status_code == 201
            rule = {
                "name": rule_name,
                "brand": brand,
                "definition": {
                    "metric": "negative",
                    "window_minutes": 5,
                    "threshold": 8,
                    "severity": "SEV2",
                },
            }
            resp = await admin.post("/v1/rules", json=rule)
            assert resp.status_code == 201, resp.text
            rule_id = resp.json()["id"]

            async def loaded() -> float | None:
                return workers.get_sample_value("crisiswatch_alerting_rules_loaded")

            await wait_for(loaded, lambda v: v is not None and v >= 1, interval_s=0.05)
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
            items = [
                _item(
                    i,
                    NEGATIVE[i % 4].format(b=name),
                    start + timedelta(seconds=10 * i),
                    f"u{i}",
                    unique,
                )
                for i in range(12)
            ]

            async def push_first() -> httpx.Response:
                return await admin.post("/v1/mentions", json=items[:1])

            first = await wait_for(push_first, lambda r: r.json().get("accepted") == 1)
            assert first.json()["accepted"] == 1, first.text
            rest = await admin.post("/v1/mentions", json=items[1:])
            assert rest.json()["accepted"] == 11, rest.text

            async def steps() -> list[Any]:
                async with db_engine.connect() as conn:
                    stmt = (
                        select(IncidentRow.id, IncidentRow.category, PlaybookStepRow.title)
                        .join(PlaybookRunRow, PlaybookRunRow.incident_id == IncidentRow.id)
                        .join(PlaybookStepRow, PlaybookStepRow.run_id == PlaybookRunRow.id)
                        .where(IncidentRow.brand == brand)
                        .order_by(PlaybookStepRow.position)
                    )
                    return list((await conn.execute(stmt)).all())

            rows = await wait_for(steps, bool, timeout_s=120)
            assert rows, "no incident opened"
            incident_id, category = rows[0].id, rows[0].category
            assert category == "generic"
            assert [r.title for r in rows] == [s["title"] for s in generic["steps"]]

            statements = await admin.get(f"/v1/incidents/{incident_id}/holding-statements")
            english = next(s for s in statements.json() if s["language"] == "en")
            assert english["text"] == f"{brand} hears you and is on it ({unique})."

            def pages() -> list[str]:
                return [
                    r.body.decode()
                    for r in slack_webhook.delivered()
                    if f"#{incident_id}" in r.body.decode() or brand in r.body.decode()
                ]

            async def paged() -> list[str]:
                return pages()

            found = await wait_for(paged, bool, timeout_s=30)
            assert any(f"is on it ({unique})" in body for body in found)
            assert any(f"Page the {unique} duty officer" in body for body in found)
        finally:
            if rule_id is not None:
                await admin.delete(f"/v1/rules/{rule_id}")
            await admin.delete(f"/v1/watchlists/{brand}")
