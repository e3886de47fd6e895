"""Pushed mentions are scored into PostgreSQL and Kafka; a negative burst (one story across
several crisis topics) opens exactly one incident."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from services.alerting.service import serve as serve_alerting
from services.api.app import create_app
from services.sentiment.service import serve as serve_sentiment
from shared import serde
from shared.db.models import IncidentRow, MentionRow, SignalRow
from shared.http.server import serve_app
from shared.schemas import DeadLetter, ScoredMention
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings
from shared.settings.sentiment import SentimentSettings
from tests.kafka_helpers import free_port, read_topic, wait_for

NEGATIVE = [
    "This phone exploded while charging, absolutely terrible and dangerous!",
    "Worst product ever, the battery is broken and support is useless. Awful.",
    "I hate this company, my order arrived broken and they refuse a refund.",
    "Horrible experience, the charger burned my desk. Disgusting quality.",
]
POSITIVE = [
    "Love the new camera, the photos look amazing!",
    "Great support team, they fixed my issue in minutes. Thank you!",
    "Best purchase this year, excellent battery life.",
]
NEUTRAL = ["The store opens at nine tomorrow.", "Event starts at 10:00 in Berlin."]


def _mentions(brand: str, now: datetime) -> tuple[list[Any], int]:
    items: list[Any] = []
    # 40 negative mentions from 10 authors within two minutes: a burst.
    for i in range(40):
        items.append(
            {
                "platform": "x",
                "external_id": f"neg-{i}",
                "author": f"user{i % 10}",
                "text": NEGATIVE[i % len(NEGATIVE)],
                "created_at": (now + timedelta(seconds=3 * i)).isoformat(),
                "engagement": {"likes": i, "shares": 1},
                "brands": [brand],
            }
        )
    # 110 calm mentions spread over the day before.
    for i in range(110):
        text = (POSITIVE + NEUTRAL)[i % 5]
        items.append(
            {
                "platform": "reddit",
                "external_id": f"calm-{i}",
                "author": f"fan{i}",
                "text": text,
                "created_at": (now - timedelta(hours=24) + timedelta(minutes=13 * i)).isoformat(),
                "brands": [brand],
            }
        )
    valid = len(items)
    # 50 invalid items, each broken in a different way.
    broken: list[Any] = []
    for i in range(50):
        kind = i % 5
        if kind == 0:
            broken.append(
                {
                    "platform": "x",
                    "external_id": f"bad-{i}",
                    "author": "a",
                    "created_at": now.isoformat(),
                    "brands": [brand],
                }
            )  # no text
        elif kind == 1:
            broken.append(
                {
                    "platform": "X Bad!",
                    "external_id": f"bad-{i}",
                    "author": "a",
                    "text": "hi",
                    "created_at": now.isoformat(),
                    "brands": [brand],
                }
            )
        elif kind == 2:
            broken.append(
                {
                    "platform": "x",
                    "external_id": f"bad-{i}",
                    "author": "a",
                    "text": "hi",
                    "created_at": "not a date",
                    "brands": [brand],
                }
            )
        elif kind == 3:
            broken.append(f"just a string {i}")
        else:
            broken.append(
                {
                    "platform": "x",
                    "external_id": f"bad-{i}",
                    "author": "a",
                    "text": "no brand here",
                    "created_at": now.isoformat(),
                }
            )
    # Every fourth item is broken, so each batch of 50 mixes valid and invalid items.
    mixed: list[Any] = []
    good, bad = iter(items), iter(broken)
    for i in range(len(items) + len(broken)):
        mixed.append(next(bad) if i % 4 == 3 else next(good))
    return mixed, valid


async def _quiet(engine: Any, brand: str, quiet_s: float = 6.0) -> None:
    """Wait until no signal of `brand` has been recorded for `quiet_s` seconds."""
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + 60, -1, loop.time()
    while loop.time() < deadline:
        async with engine.connect() as conn:
            q = select(func.count()).select_from(SignalRow).where(SignalRow.brand == brand)
            count = int((await conn.execute(q)).scalar_one())
        if count != last:
            last, since = count, loop.time()
        elif loop.time() - since >= quiet_s:
            return
        await asyncio.sleep(0.5)


async def test_push_score_store_and_one_incident(
    settings_factory, api_sections, db_engine, unique, infra
):
    brand = f"acme-{unique}"
    api_settings, ingest_settings = api_sections()
    sentiment_settings: SentimentSettings = settings_factory(SentimentSettings)
    alerting_settings: AlertingSettings = settings_factory(
        AlertingSettings, burst_min_negative=20, burst_min_authors=5
    )
    port = free_port()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            serve_app(
                create_app(api_settings, ingest_settings, registry=CollectorRegistry()),
                host="127.0.0.1",
                port=port,
                stop=stop,
            )
        ),
        asyncio.create_task(
            serve_sentiment(sentiment_settings, stop, registry=CollectorRegistry())
        ),
        asyncio.create_task(
            serve_alerting(
                alerting_settings,
                stop,
                registry=CollectorRegistry(),
                notify_settings=NotifySettings(),
            )
        ),
    ]
    try:
        items, valid = _mentions(brand, datetime.now(UTC).replace(microsecond=0))
        assert len(items) == 200
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            ready = await wait_for(
                lambda: client.get("/healthz"),
                lambda r: r.status_code == 200,
                ignore=(httpx.TransportError,),
            )
            assert ready.status_code == 200
            accepted: list[dict[str, Any]] = []
            rejected: list[dict[str, Any]] = []
            for start in range(0, 200, 50):
                resp = await client.post("/v1/mentions", json=items[start : start + 50])
                assert resp.status_code in (202, 207)  # every batch has valid items
                body = resp.json()
                accepted += [r for r in body["items"] if r["status"] == "accepted"]
                # Invalid items are dead-lettered; unmatched ones (no brand) only reported.
                rejected += [r for r in body["items"] if r["status"] in ("invalid", "unmatched")]
                assert body["accepted"] + body["invalid"] + body["unmatched"] == 50
            assert len(accepted) == valid == 150
            assert len(rejected) == 50
            assert all(r["reason"] for r in rejected)
            reasons = " | ".join(r["reason"] for r in rejected)
            assert "text" in reasons and "platform" in reasons and "created_at" in reasons
            assert "JSON object" in reasons and "no watched brand" in reasons

        async def stored() -> int:
            async with db_engine.connect() as conn:
                q = select(func.count()).select_from(MentionRow).where(MentionRow.brand == brand)
                return int((await conn.execute(q)).scalar_one())

        assert await wait_for(stored, lambda n: n >= valid, timeout_s=90) == valid

        async with db_engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        MentionRow.external_id, MentionRow.sentiment_label, MentionRow.author_id
                    ).where(MentionRow.brand == brand)
                )
            ).all()
        labels = {ext: label for ext, label, _ in rows}
        assert all(labels[f"neg-{i}"] == "negative" for i in range(40))
        assert (
            sum(1 for ext, lab in labels.items() if ext.startswith("calm") and lab == "positive")
            > 50
        )
        assert all(author.startswith("a_") and "user" not in author for _, _, author in rows)

        scored = await read_topic(
            infra.bootstrap_servers, sentiment_settings.topic_scored, expected=valid
        )
        scored_ids = {serde.decode(ScoredMention, r.value).mention.external_id for r in scored}
        assert scored_ids == set(labels)

        # Invalid items are dead-lettered; unmatched ones (no brand) are counted, not.
        invalid = sum(1 for r in rejected if r["status"] == "invalid")
        assert (invalid, len(rejected) - invalid) == (40, 10)
        dlq = await read_topic(infra.bootstrap_servers, api_settings.topic_dlq, expected=invalid)
        letters = [serde.decode(DeadLetter, r.value) for r in dlq]
        assert len(letters) == invalid
        assert all(letter.stage == "ingest" and letter.reason for letter in letters)
        assert not any("no watched brand" in letter.reason for letter in letters)

        async def incidents() -> list[Any]:
            async with db_engine.connect() as conn:
                q = select(IncidentRow).where(IncidentRow.brand == brand)
                return list((await conn.execute(q)).all())

        # The negative posts speak of a broken battery, a phone that exploded and a refused
        # refund: several crisis topics, one story. An incident is a story: exactly one, its
        # topics its attributes.
        found = await wait_for(incidents, lambda rows: len(rows) >= 1, timeout_s=60)
        async with db_engine.connect() as conn:
            spoken = (
                await conn.execute(
                    select(func.unnest(MentionRow.topics)).where(MentionRow.brand == brand)
                )
            ).scalars()
            topics = set(spoken)
            stories = set(
                (
                    await conn.execute(
                        select(MentionRow.story_id).where(
                            MentionRow.brand == brand, MentionRow.external_id.like("neg-%")
                        )
                    )
                ).scalars()
            )
        assert {"product_quality", "safety"} <= topics
        # The crisis story: the one the negative posts (all of them) belong to.
        assert len(stories) == 1 and None not in stories, stories
        await _quiet(db_engine, brand)
        found = await incidents()
        assert len(found) == 1, [(r.id, r.topic, r.story_id, r.status) for r in found]
        incident = found[0]
        assert incident.story_id in stories and incident.status == "open"
        assert incident.topic in topics | {""}
        assert set(incident.scope["topics"]) <= topics
        assert incident.rule in {"negative_burst", "volume_spike"}
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)
