"""Mention file in, one incident with its playbook out, delivered to Slack and by email.

A JSONL file holds hours of calm chatter for three brands, then, in its last minutes, a
growing product-safety crisis for one brand (English, Spanish and Chinese, many authors), a
one-account bot flood for another and a registered launch campaign for the third. It is
replayed into Kafka with `run_replay`, scored by the real sentiment service and watched by
the real alerting service, which delivers to local Slack and SMTP receivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from services.alerting.service import serve as serve_alerting
from services.ingest.sources.replay import run_replay
from services.sentiment.service import serve as serve_sentiment
from shared.db.config_models import CampaignRow, WatchlistRow
from shared.db.engine import transaction
from shared.db.models import IncidentRow, MentionRow, OutboxRow, PlaybookRunRow, SignalRow
from shared.settings.alerting import AlertingSettings
from shared.settings.ingest import IngestSettings
from shared.settings.notify import NotifySettings
from shared.settings.sentiment import SentimentSettings
from tests.kafka_helpers import wait_for
from tools.demo.receivers import Inbox, SlackWebhookReceiver, SmtpReceiver

CALM = [
    ("en", "Just got my {b} headphones, they sound great"),
    ("en", "{b} store opens at nine tomorrow"),
    ("en", "Thanks {b} support, quick and friendly"),
    ("es", "Me encanta mi nuevo {b}, funciona perfecto"),
    ("en", "Comparing {b} with the competition before I buy"),
]
CRISIS = [
    ("en", "My {b} phone battery caught fire while charging, this is dangerous!"),
    ("en", "{b} charger exploded and burned my hand. Terrifying and unsafe."),
    ("es", "La batería de mi {b} se incendió mientras cargaba, ¡qué peligro!"),
    ("zh", "{b}手机充电时电池起火了，太危险了！"),
    ("en", "Another {b} battery fire, kids could get hurt. Unsafe product!"),
]
LAUNCH = [
    ("en", "The new {b} phone launches today, preorders are open"),
    ("en", "Watching the {b} launch event live right now"),
    ("es", "Hoy sale el nuevo {b}, ya lo reservé"),
]
CALM_HOURS = 6


def _payload(brand: str, n: int, at: datetime, lang_text: tuple[str, str], author: str,
             reach: int = 500) -> dict[str, Any]:  # fmt: skip
    language, template = lang_text
    return {
        "platform": "x",
        "external_id": f"{brand}-{n}",
        "author": author,
        "author_reach": reach,
        "text": template.format(b=brand.capitalize()),
        "language": language,
        "created_at": at.isoformat(),
        "brands": [brand],
    }


def _scenario(brands: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(11)
    items: list[dict[str, Any]] = []
    start = now - timedelta(hours=CALM_HOURS)
    crisis_start = now - timedelta(minutes=12)
    for role, brand in brands.items():
        n = 0
        minute = start
        while minute < crisis_start:
            for _ in range(rng.choice((2, 3, 3, 4))):
                n += 1
                at = minute + timedelta(seconds=rng.uniform(0, 59))
                items.append(_payload(brand, n, at, rng.choice(CALM), f"fan{rng.randrange(400)}"))
            minute += timedelta(minutes=1)
        for k in range(12):
            minute = crisis_start + timedelta(minutes=k)
            if role == "crisis":  # growing, many authors, three languages
                texts, count = CRISIS, 4 + 4 * k
            elif role == "bots":  # one account floods the same complaint
                texts, count = CRISIS[:1], 25
            else:  # a launch burst under a registered campaign
                texts, count = LAUNCH, 4 + 5 * k
            for i in range(count):
                n += 1
                at = minute + timedelta(seconds=rng.uniform(0, 59))
                author = "bot-account" if role == "bots" else f"{role}-author-{k}-{i}"
                items.append(_payload(brand, n, at, texts[i % len(texts)], author, reach=300))
    items.sort(key=lambda p: p["created_at"])
    return items


async def _alerting_caught_up(bootstrap: str, topic: str, group: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [tp for tp in committed if tp.topic == topic]
        if not partitions:
            return False
        ends = await consumer.end_offsets(partitions)
        return all(committed[tp].offset >= ends[tp] for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


async def _settled(engine: Any, brands: list[str], quiet_s: float = 6.0) -> list[Any]:
    """Incidents of `brands` once no new signal has been recorded for `quiet_s` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    last_count, last_change = -1, loop.time()
    while loop.time() < deadline:
        async with engine.connect() as conn:
            count = int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(SignalRow)
                        .where(SignalRow.brand.in_(brands))
                    )
                ).scalar_one()
            )
        if count != last_count:
            last_count, last_change = count, loop.time()
        elif loop.time() - last_change >= quiet_s:
            break
        await asyncio.sleep(0.5)
    async with engine.connect() as conn:
        q = select(IncidentRow).where(IncidentRow.brand.in_(brands))
        return list((await conn.execute(q)).all())


async def test_crisis_file_to_one_incident_with_playbook_slack_and_email(
    settings_factory, db_engine, unique, infra, tmp_path: Path
) -> None:
    brands = {"crisis": f"voltix{unique}", "bots": f"botted{unique}", "launch": f"launchy{unique}"}
    now = datetime.now(UTC).replace(microsecond=0)
    path = tmp_path / "scenario.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(p) for p in _scenario(brands, now)) + b"\n")
    async with transaction(db_engine) as session:
        session.add(
            CampaignRow(
                brand=brands["launch"],
                name="phone launch",
                starts_at=now - timedelta(minutes=20),
                ends_at=now + timedelta(hours=2),
                expected_lift=15.0,
            )
        )
        # The crisis brand speaks Spanish first: its first notification quotes that statement.
        # Once a watchlist is stored, pushed brands must be watched: the other two are too.
        for other in (brands["bots"], brands["launch"]):
            session.add(WatchlistRow(brand=other, definition={"brand": other}))
        session.add(
            WatchlistRow(
                brand=brands["crisis"],
                definition={
                    "brand": brands["crisis"],
                    "display_name": "Voltix",
                    "languages": ["es", "en"],
                },
            )
        )

    inbox = Inbox()
    slack, smtp = SlackWebhookReceiver(inbox), SmtpReceiver(inbox)
    slack.start()
    smtp.start()
    notify = NotifySettings(
        slack_webhook_url=SecretStr(slack.url),
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="alerts@crisiswatch.local",
        smtp_to=["pr@crisiswatch.local"],
        routes={sev: ["slack", "email"] for sev in ("SEV1", "SEV2", "SEV3", "SEV4")},
        outbox_poll_interval_s=0.2,
    )
    ingest: IngestSettings = settings_factory(IngestSettings)
    sentiment: SentimentSettings = settings_factory(SentimentSettings)
    alerting: AlertingSettings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=3.0,
        alerting_campaign_refresh_s=1.0,
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
        assert stats.produced == stats.read and stats.rejected == 0

        async def stored() -> int:
            async with db_engine.connect() as conn:
                q = (
                    select(func.count())
                    .select_from(MentionRow)
                    .where(MentionRow.brand.in_(list(brands.values())))
                )
                return int((await conn.execute(q)).scalar_one())

        assert await wait_for(stored, lambda n: n == stats.produced, timeout_s=120) == stats.read

        async def incidents() -> list[Any]:
            async with db_engine.connect() as conn:
                q = select(IncidentRow).where(IncidentRow.brand.in_(list(brands.values())))
                return list((await conn.execute(q)).all())

        async def notified() -> list[Any]:
            return [r for r in inbox.items() if brands["crisis"].lower() in r.summary.lower()]

        assert await wait_for(incidents, bool, timeout_s=90), "no incident opened"
        got = await wait_for(
            notified, lambda rs: {r.channel for r in rs} >= {"slack", "email"}, timeout_s=60
        )
        assert await wait_for(
            lambda: _alerting_caught_up(
                infra.bootstrap_servers, sentiment.topic_scored, alerting.alerting_group_id
            ),
            bool,
            timeout_s=60,
        )
        # The last minutes' bins close on the idle timer after the records are consumed: wait
        # until no signal has been recorded for a few seconds.
        final = await _settled(db_engine, list(brands.values()))

        assert [row.brand for row in final] == [brands["crisis"]], "bots or launch alerted"
        incident = final[0]
        assert incident.category == "safety"
        assert incident.severity in ("SEV1", "SEV2")
        assert incident.playbook == "safety"
        async with db_engine.connect() as conn:
            runs = (
                await conn.execute(
                    select(PlaybookRunRow)
                    .where(PlaybookRunRow.incident_id == incident.id)
                    .order_by(PlaybookRunRow.id)
                )
            ).all()
        # A story first seen as a generic burst switches to its topic's playbook.
        assert runs[-1].playbook == "safety"
        assert len(runs) <= 2
        channels = sorted(r.channel for r in got)
        assert channels.count("slack") >= 1 and channels.count("email") >= 1
        opening = [r for r in got if "SEV" in r.summary]
        assert opening, "the notification names the severity"
        async with db_engine.connect() as conn:
            first = (
                await conn.execute(
                    select(OutboxRow.payload)
                    .where(OutboxRow.incident_id == incident.id, OutboxRow.channel == "slack")
                    .order_by(OutboxRow.id)
                    .limit(1)
                )
            ).scalar_one()
        quoted = [
            b["text"]["text"]
            for b in first["blocks"]
            if b["type"] == "section" and "Holding statement" in b.get("text", {}).get("text", "")
        ]
        assert quoted and quoted[0].startswith("*Holding statement (es)*"), quoted
        assert "Voltix" in quoted[0]
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)
        # Stored watchlists restrict every later push in this session's database.
        async with transaction(db_engine) as session:
            await session.execute(
                delete(WatchlistRow).where(WatchlistRow.brand.in_(brands.values()))
            )
        slack.stop()
        smtp.stop()
