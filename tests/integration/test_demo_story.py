"""The demo's crisis story opens exactly one incident: one Slack message, one email, the
updates threaded under them; its daily digest renders with its charts.

The demo scenario (tools/demo/scenario.py: a day of chatter for four brands, then the
battery-fire story of `voltix` in English, Chinese and Spanish) is replayed through the real
ingest, sentiment and alerting services, which deliver to the demo's own Slack Web API and
SMTP receivers (tools/demo/receivers.py), as `make demo` runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import func, select

from services.alerting.digests.cli import DigestRequest, preview_html
from services.alerting.service import serve as serve_alerting
from services.ingest.sources.replay import run_replay
from services.sentiment.service import serve as serve_sentiment
from shared.db.models import IncidentRow, MentionRow, OutboxRow, SignalRow
from shared.settings.alerting import AlertingSettings
from shared.settings.ingest import IngestSettings
from shared.settings.notify import NotifySettings
from shared.settings.sentiment import SentimentSettings
from tests.kafka_helpers import wait_for
from tools.demo.receivers import DEMO_CHANNEL, DEMO_TOKEN, Inbox, SlackApiReceiver, SmtpReceiver
from tools.demo.scenario import BRANDS, CRISIS_BRAND, generate


def _scenario(unique: str, now: datetime) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The demo scenario ending now, each brand renamed for this test (a shared database)."""
    names = {brand: f"{brand}{unique}" for brand in BRANDS}
    items = []
    for m in generate(end=now, run_id=f"demo{unique}"):
        payload = dict(m.payload)
        payload["brands"] = [names[b] for b in payload["brands"]]
        items.append(payload)
    items.sort(key=lambda p: p["created_at"])
    return items, names


async def _settled(engine: Any, brands: list[str], quiet_s: float = 8.0) -> None:
    """Wait until no signal has been recorded for `quiet_s` seconds (bins close on idle)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    last_count, last_change = -1, loop.time()
    while loop.time() < deadline:
        async with engine.connect() as conn:
            q = select(func.count()).select_from(SignalRow).where(SignalRow.brand.in_(brands))
            count = int((await conn.execute(q)).scalar_one())
        if count != last_count:
            last_count, last_change = count, loop.time()
        elif loop.time() - last_change >= quiet_s:
            return
        await asyncio.sleep(0.5)


@pytest.mark.timeout(420)
async def test_demo_crisis_story_is_one_incident_one_page_per_channel_updates_threaded(
    settings_factory: Any, db_engine: Any, unique: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    items, names = _scenario(unique, now)
    crisis = names[CRISIS_BRAND]
    path = tmp_path / "demo.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(p) for p in items) + b"\n")
    inbox = Inbox()
    slack, smtp = SlackApiReceiver(inbox), SmtpReceiver(inbox)
    slack.start()
    smtp.start()
    # As the demo configures its services (tools/demo/run.py `_child_env`).
    notify = NotifySettings(
        slack_bot_token=SecretStr(DEMO_TOKEN),
        slack_channel=DEMO_CHANNEL,
        slack_api_base=slack.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="crisiswatch@demo.invalid",
        smtp_to=["comms-oncall@demo.invalid"],
        routes={
            "SEV1": ["slack", "email"],
            "SEV2": ["slack", "email"],
            "SEV3": ["slack", "email"],
            "SEV4": ["slack"],
        },
        outbox_poll_interval_s=0.2,
    )
    ingest: IngestSettings = settings_factory(IngestSettings)
    sentiment: SentimentSettings = settings_factory(SentimentSettings)
    alerting: AlertingSettings = settings_factory(
        AlertingSettings, alerting_checkpoint_s=0.5, alerting_idle_flush_s=3.0
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(serve_sentiment(sentiment, stop, registry=CollectorRegistry())),
        asyncio.create_task(
            serve_alerting(alerting, stop, registry=CollectorRegistry(), notify_settings=notify)
        ),
    ]
    try:
        stats = await run_replay(ingest, path, progress=False)
        assert stats.produced == stats.read == len(items)

        async def stored() -> int:
            async with db_engine.connect() as conn:
                q = (
                    select(func.count())
                    .select_from(MentionRow)
                    .where(MentionRow.brand.in_(list(names.values())))
                )
                return int((await conn.execute(q)).scalar_one())

        assert await wait_for(stored, lambda n: n == len(items), timeout_s=180) == len(items)

        async def incidents() -> list[Any]:
            async with db_engine.connect() as conn:
                q = select(IncidentRow).where(IncidentRow.brand == crisis)
                return list((await conn.execute(q)).all())

        assert await wait_for(incidents, bool, timeout_s=120), "the crisis opened no incident"
        await _settled(db_engine, list(names.values()))
        found = await incidents()
        assert len(found) == 1, [(r.id, r.topic, r.story_id, r.status) for r in found]
        incident = found[0]
        # Its topics are attributes; the first topic signal gave it its main category.
        assert {"safety", "recall"} <= set(incident.scope["topics"])
        assert incident.category in ("safety", "recall")
        async with db_engine.connect() as conn:
            q = select(OutboxRow.payload).where(
                OutboxRow.incident_id == incident.id, OutboxRow.channel == "slack"
            )
            first = (await conn.execute(q.order_by(OutboxRow.id).limit(1))).scalar_one()
        page = str(first["blocks"])
        assert "*The story*" in page and "Playbook first steps" in page
        assert "original language, not translated" in page

        async def undelivered() -> int:
            async with db_engine.connect() as conn:
                q = (
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(
                        OutboxRow.incident_id == incident.id,
                        OutboxRow.status.in_(("pending", "sending")),
                    )
                )
                return int((await conn.execute(q)).scalar_one())

        assert await wait_for(undelivered, lambda n: n == 0, timeout_s=60) == 0
        about = [r for r in inbox.items() if crisis in r.summary]
        for channel in ("slack", "email"):
            mine = [r for r in about if r.channel == channel]
            pages = [r for r in mine if r.reply_to is None]
            assert len(pages) == 1, (channel, [r.summary for r in mine])
            assert all(r.reply_to == pages[0].ident for r in mine if r is not pages[0])

        # The crisis brand's daily digest of the demo renders with its charts and the story.
        tomorrow = (now + timedelta(days=1)).date().isoformat()
        request = DigestRequest("preview", crisis, "daily", end=tomorrow)
        html = await preview_html(alerting, notify, request)
        (tmp_path / "demo-digest.html").write_text(html)
        assert html.count('src="data:image/png;base64,') >= 3, html[:500]
        assert "Top stories" in html and f"/incidents/{incident.id}" in html
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)
        slack.stop()
        smtp.stop()
