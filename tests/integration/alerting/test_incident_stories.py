"""An incident is a story, on real PostgreSQL (and Kafka), with Slack and SMTP look-alikes.

One story across topics and languages opens one incident; two open incidents whose stories
converge are merged (one "merged into #N" update in the younger one's thread, never a second
page); updates go into the opening's Slack thread and email thread (In-Reply-To).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.alerting.detect.signals import Signal
from services.alerting.incidents.severity import assess_severity
from services.alerting.incidents.store import IncidentChange, merge_converged, record_signal
from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.closures import announce_closures
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from services.alerting.notify.threads import message_id
from services.alerting.service import NotifyHooks
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, IncidentRow, OutboxRow, SignalRow, StoryRow
from shared.kafka import EventProducer
from shared.schemas import ScoredMention
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings
from tests.detection_helpers import (
    CALM_HOURS,
    RunningAlerting,
    Stream,
    floor_minute,
    incidents,
    processed_until,
    publish,
)
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, SmtpServer, notify_settings

WINDOW = timedelta(hours=1)
SLACK_CHANNEL = "C0STORIES"


def story_settings(slack: FakeHttp, smtp: SmtpServer) -> NotifySettings:
    """Slack through the Web API (threads) and email, for SEV1 and SEV2 alike."""
    return notify_settings(
        slack_bot_token="xoxb-test",
        slack_channel=SLACK_CHANNEL,
        slack_api_base=slack.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="alerts@crisiswatch.local",
        smtp_to=["pr@brand.local"],
        routes={"SEV1": ["slack", "email"], "SEV2": ["slack", "email"]},
    )


def signal(
    brand: str, *, story: str | None, topic: str, level: str, at: datetime, languages: list[str]
) -> Signal:
    """A signal about `story`, as the detection engine emits it."""
    severity = assess_severity(magnitude=8.0, topics=[topic], languages=languages)
    return Signal(
        brand=brand,
        topic=topic,
        story_topic=topic,
        rule="volume_spike",
        at=at,
        score=8.0,
        value=80.0,
        baseline=10.0,
        severity=replace(severity, level=level),  # type: ignore[arg-type]
        mentions=80,
        tipping_ingested_at=None,
        story_id=story,
        topics=(topic,),
        emotions=("fear",),
    )


async def record(engine: AsyncEngine, hooks: NotifyHooks, sig: Signal) -> IncidentChange:
    """Store one signal and run its hooks in one transaction, as the worker's checkpoint does."""
    async with transaction(engine) as session:
        change = await record_signal(session, sig, grouping_window=WINDOW)
        await hooks(session, change)
    return change


async def add_stories(session: AsyncSession, brand: str, rows: dict[str, str | None]) -> None:
    """Story rows as the sentiment worker writes them (`merged_into` its merges)."""
    now = datetime.now(UTC)
    for story, merged_into in rows.items():
        session.add(
            StoryRow(
                id=story,
                brand=brand,
                label="battery fire",
                top_phrases=["battery fire", "x5 phone"],
                languages=["en", "es"],
                first_seen=now,
                last_seen=now,
                volume=40,
                negative=30,
                representatives={
                    "en": {
                        "mention": "x:1",
                        "text": f"{story}: my X5 caught fire",
                        "similarity": 0.8,
                    },
                    "es": {"mention": "x:2", "text": "¡Mi X5 se incendió!", "similarity": 0.7},
                },
                merged_into=merged_into,
            )
        )


async def deliver_all(engine: AsyncEngine, settings: NotifySettings) -> None:
    """Send every pending notification through the real notifiers."""
    dispatcher = OutboxDispatcher.from_settings(
        settings,
        engine=engine,
        notifiers=build_notifiers(settings),
        metrics=OutboxMetrics(CollectorRegistry()),
    )
    await dispatcher.start()
    try:
        for _ in range(20):
            if not await dispatcher.dispatch_once():
                break
    finally:
        await dispatcher.stop()


async def cleanup(engine: AsyncEngine, brand: str, stories: list[str]) -> None:
    """Remove the brand's incidents, their outbox rows and the stories (shared database)."""
    async with transaction(engine) as session:
        ids = list(
            (await session.scalars(select(IncidentRow.id).where(IncidentRow.brand == brand))).all()
        )
        await session.execute(delete(OutboxRow).where(OutboxRow.incident_id.in_(ids)))
        await session.execute(delete(IncidentRow).where(IncidentRow.id.in_(ids)))
        await session.execute(delete(StoryRow).where(StoryRow.id.in_(stories)))


def slack_posts(slack: FakeHttp) -> list[dict[str, Any]]:
    """The bodies of every delivered chat.postMessage."""
    return [r.json() for r in slack.delivered() if r.path.endswith("chat.postMessage")]


async def test_converging_stories_merge_with_one_update_in_threads(
    db_engine: AsyncEngine, slack_api: FakeHttp, smtp_server: SmtpServer, unique: str
) -> None:
    brand = f"voltix-{unique}"
    fire, smoke = f"fire-{unique}", f"smoke-{unique}"
    settings = story_settings(slack_api, smtp_server)
    hooks = NotifyHooks(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        async with transaction(db_engine) as session:
            await add_stories(session, brand, {fire: None, smoke: None})
        opened = await record(
            db_engine,
            hooks,
            signal(brand, story=fire, topic="safety", level="SEV2", at=now, languages=["en"]),
        )
        # The same story, now about a recall and in Spanish: the same incident, escalated.
        escalated = await record(
            db_engine,
            hooks,
            signal(
                brand,
                story=fire,
                topic="recall",
                level="SEV1",
                at=now + timedelta(minutes=2),
                languages=["es"],
            ),
        )
        assert escalated.incident_id == opened.incident_id
        assert escalated.kind == "severity_changed"
        other = await record(
            db_engine,
            hooks,
            signal(
                brand,
                story=smoke,
                topic="product_quality",
                level="SEV2",
                at=now + timedelta(minutes=3),
                languages=["zh"],
            ),
        )
        assert other.opened and other.incident_id != opened.incident_id
        # The sentiment worker found the two stories are one: `smoke` merged into `fire`.
        async with transaction(db_engine) as session:
            row = await session.get(StoryRow, smoke)
            assert row is not None
            row.merged_into = fire
        merged = await record(
            db_engine,
            hooks,
            signal(
                brand,
                story=smoke,
                topic="product_quality",
                level="SEV2",
                at=now + timedelta(minutes=5),
                languages=["zh"],
            ),
        )
        assert merged.incident_id == opened.incident_id
        assert merged.merged == (other.incident_id,)
        # A later signal of the merged story goes to the survivor, and merges nothing more.
        again = await record(
            db_engine,
            hooks,
            signal(
                brand,
                story=smoke,
                topic="safety",
                level="SEV2",
                at=now + timedelta(minutes=7),
                languages=["en"],
            ),
        )
        assert (again.incident_id, again.merged, again.opened) == (opened.incident_id, (), False)
        await deliver_all(db_engine, settings)
        async with transaction(db_engine) as session:
            # The younger incident's closure was its merge update: no `resolved` message.
            assert other.incident_id not in await announce_closures(
                session, datetime.now(UTC), settings=settings
            )
            rows = (
                await session.scalars(
                    select(IncidentRow).where(IncidentRow.brand == brand).order_by(IncidentRow.id)
                )
            ).all()
            events = (
                await session.scalars(
                    select(IncidentEventRow).where(
                        IncidentEventRow.incident_id.in_([r.id for r in rows]),
                        IncidentEventRow.kind.in_(("merged", "absorbed")),
                    )
                )
            ).all()
        survivor, absorbed = rows
        assert survivor.status == "open" and survivor.story_id == fire
        assert survivor.severity == "SEV1"
        assert set(survivor.scope["languages"]) == {"en", "es", "zh"}
        assert {"safety", "recall", "product_quality"} <= set(survivor.scope["topics"])
        assert absorbed.status == "resolved" and absorbed.merged_into == survivor.id
        assert sorted((e.incident_id, e.kind) for e in events) == [
            (survivor.id, "absorbed"),
            (absorbed.id, "merged"),
        ]

        # Slack: one top-level message per incident opened, every update a thread reply.
        posts = slack_posts(slack_api)
        top = [p for p in posts if "thread_ts" not in p]
        # The two openings may be delivered in either order.
        assert sorted(p["metadata"]["event_payload"]["incident"] for p in top) == sorted(
            [survivor.id, absorbed.id]
        )
        survivor_top = next(
            p for p in top if p["metadata"]["event_payload"]["incident"] == survivor.id
        )
        opening_ts = {
            m.metadata["event_payload"]["incident"]: m.ts
            for m in slack_api.messages
            if m.metadata and m.metadata["event_payload"].get("opening")
        }
        replies = [p for p in posts if "thread_ts" in p]
        assert sorted(
            (p["metadata"]["event_payload"]["incident"], p["thread_ts"]) for p in replies
        ) == sorted(
            [(survivor.id, opening_ts[survivor.id]), (absorbed.id, opening_ts[absorbed.id])]
        )
        merged_post = next(
            p for p in replies if p["metadata"]["event_payload"]["incident"] == absorbed.id
        )
        assert f"Merged into incident #{survivor.id}" in str(merged_post["blocks"])
        assert "my X5 caught fire" in str(survivor_top["blocks"])  # the story's headline

        # Email: the same shape, threaded by In-Reply-To / References and "Re:" subjects.
        mails = smtp_server.inbox.messages
        assert len(mails) == 4
        firsts = [m for m in mails if m["In-Reply-To"] is None]
        assert len(firsts) == 2
        for first in firsts:
            replies_to = [m for m in mails if m["In-Reply-To"] == first["Message-ID"]]
            assert len(replies_to) == 1
            assert replies_to[0]["References"] == first["Message-ID"]
            assert replies_to[0]["Subject"] == f"Re: {first['Subject']}"
        # The two incidents' first emails may be delivered in either order.
        key = f"incident:{survivor.id}:opened:SEV2:email"
        opening = next(m for m in firsts if m["Message-ID"] == message_id(key))
        assert survivor.details["threads"]["email"]["message_id"] == message_id(key)
        text = opening.get_body(("plain",)).get_content()
        assert "battery fire · x5 phone" in text and "original language" in text
    finally:
        await cleanup(db_engine, brand, [fire, smoke])


async def test_signals_without_story_keep_topic_grouping_and_a_story_adopts_them(
    db_engine: AsyncEngine, slack_api: FakeHttp, smtp_server: SmtpServer, unique: str
) -> None:
    brand = f"legacy-{unique}"
    story = f"story-{unique}"
    hooks = NotifyHooks(story_settings(slack_api, smtp_server))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        old = await record(
            db_engine,
            hooks,
            signal(brand, story=None, topic="safety", level="SEV2", at=now, languages=["en"]),
        )
        same_topic = await record(
            db_engine,
            hooks,
            signal(brand, story=None, topic="safety", level="SEV2", at=now, languages=["de"]),
        )
        assert same_topic.incident_id == old.incident_id and not same_topic.opened
        adopted = await record(
            db_engine,
            hooks,
            signal(brand, story=story, topic="safety", level="SEV2", at=now, languages=["en"]),
        )
        assert adopted.incident_id == old.incident_id
        other_topic = await record(
            db_engine,
            hooks,
            signal(brand, story=None, topic="fraud", level="SEV2", at=now, languages=["en"]),
        )
        assert other_topic.opened
        async with transaction(db_engine) as session:
            row = await session.get(IncidentRow, old.incident_id)
            assert row is not None and row.story_id == story
    finally:
        await cleanup(db_engine, brand, [])


async def test_incidents_merge_when_the_sentiment_side_merges_their_stories(
    db_engine: AsyncEngine, slack_api: FakeHttp, smtp_server: SmtpServer, unique: str
) -> None:
    """No new signal needed: the worker's refresh merges incidents whose stories merged."""
    brand = f"quiet-{unique}"
    first, second = f"first-{unique}", f"second-{unique}"
    settings = story_settings(slack_api, smtp_server)
    hooks = NotifyHooks(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        async with transaction(db_engine) as session:
            await add_stories(session, brand, {first: None, second: None})
        a = await record(
            db_engine,
            hooks,
            signal(brand, story=first, topic="safety", level="SEV2", at=now, languages=["en"]),
        )
        b = await record(
            db_engine,
            hooks,
            signal(brand, story=second, topic="recall", level="SEV1", at=now, languages=["es"]),
        )
        async with transaction(db_engine) as session:
            assert [c.merged for c in await merge_converged(session)] == []  # nothing merged
            row = await session.get(StoryRow, second)
            assert row is not None
            row.merged_into = first
        async with transaction(db_engine) as session:
            changes = [c for c in await merge_converged(session) if c.incident_id == a.incident_id]
            for change in changes:
                await hooks(session, change)
        assert [(c.merged, c.kind, c.severity) for c in changes] == [
            ((b.incident_id,), "severity_changed", "SEV1")
        ]
        async with transaction(db_engine) as session:
            assert [
                c for c in await merge_converged(session) if c.incident_id == a.incident_id
            ] == []
            survivor = await session.get(IncidentRow, a.incident_id)
            merged = await session.get(IncidentRow, b.incident_id)
            assert survivor is not None and merged is not None
            assert (merged.status, merged.merged_into) == ("resolved", a.incident_id)
            assert survivor.story_id == first and survivor.status == "open"
            kinds = (
                await session.scalars(
                    select(OutboxRow.dedupe_key).where(OutboxRow.incident_id == b.incident_id)
                )
            ).all()
        # The merged incident: its opening and one merge update per channel, nothing more.
        assert sorted(k.split(":")[2] for k in kinds) == ["merged", "merged", "opened", "opened"]
    finally:
        await cleanup(db_engine, brand, [first, second])


def _story_crisis(stream: Stream, start: datetime, story: str) -> list[ScoredMention]:
    """A growing crisis of one story in three languages, about safety, then a recall."""
    out = []
    for k in range(16):
        for i in range(4 + 3 * k):
            at = start + timedelta(minutes=k, seconds=(i * 7) % 60)
            topic = "safety" if (k < 6 or i % 2) else "recall"
            scored = stream.mention(
                at,
                negative=i % 7 != 0,
                topics=[topic],
                emotion="fear",
                market=("US", "ES", "CN")[i % 3],
                language=("en", "es", "zh")[i % 3],
            )
            out.append(scored.model_copy(update={"story_id": story}))
    return out


@pytest.mark.timeout(300)
async def test_one_story_across_topics_and_languages_opens_one_incident(
    settings_factory: Any, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    """Through the running alerting service on Kafka: the safety and the recall series both
    fire, in three languages; the story is one incident with both topics."""
    brand = f"story-{unique}"
    story = f"battery-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=20)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    crisis = _story_crisis(stream, crisis_start, story)
    service = RunningAlerting(
        settings_factory(
            AlertingSettings,
            alerting_checkpoint_s=0.5,
            alerting_idle_flush_s=3.0,
            alerting_campaign_refresh_s=1.0,
        )
    )
    service.start()
    try:
        await publish(db_engine, producer, service.settings.topic_scored, calm + crisis)
        assert await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=120)
        await processed_until(db_engine, brand, crisis[-1].mention.created_at)

        async def signal_topics() -> set[str]:
            async with db_engine.connect() as conn:
                q = select(SignalRow.topic).where(SignalRow.brand == brand)
                return set((await conn.execute(q)).scalars())

        # A topic series may page on a bin closed after the crisis's last mention (by the
        # idle flush, on the wall clock): poll for it rather than read once.
        topics = await wait_for(signal_topics, lambda t: {"safety", "recall"} <= t, timeout_s=60)
        assert {"safety", "recall"} <= topics  # each topic's series fired on its own
        found = await incidents(db_engine, brand)
        assert len(found) == 1, [(r.id, r.topic, r.story_id) for r in found]
        incident = found[0]
        assert incident.story_id == story and incident.status == "open"
        assert {"safety", "recall"} <= set(incident.scope["topics"])
        assert set(incident.scope["languages"]) == {"en", "es", "zh"}
    finally:
        await service.shutdown()
        await cleanup(db_engine, brand, [])
