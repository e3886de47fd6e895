"""A push's request id travels on: a `request_id` header on `mentions.scored` and on every
dead letter a record of that push caused (ingest, sentiment, alerting), and in the workers'
log lines about the record."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.sentiment.service import serve as serve_sentiment
from shared import serde
from shared.kafka import REQUEST_ID_HEADER, EventProducer, Record
from shared.logging import JsonFormatter, RequestIdFilter
from shared.schemas import DeadLetter, ScoredMention
from shared.settings.alerting import AlertingSettings
from shared.settings.sentiment import SentimentSettings
from tests.detection_helpers import RunningAlerting
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import read_topic


@pytest.fixture
def kafka_log() -> Iterator[io.StringIO]:
    """JSON lines logged by `shared.dead_letters` during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("shared.dead_letters")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _request_id(record: Record) -> str | None:
    return record.header(REQUEST_ID_HEADER)


def _logged(stream: io.StringIO, request_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [entry for entry in lines if entry.get("request_id") == request_id]


def _item(external_id: str, **changes: Any) -> dict[str, Any]:
    item = {
        "platform": "x",
        "external_id": external_id,
        "author": "u",
        "text": "the acme phone is great",
        "created_at": "2026-11-25T09:30:00Z",
        "brands": ["acme"],
    }
    item.update(changes)
    return item


async def test_request_id_reaches_scored_topic_and_dead_letters(
    api: RunningApi,
    settings_factory: Any,
    producer: EventProducer,
    kafka_log: io.StringIO,
) -> None:
    settings: SentimentSettings = settings_factory(SentimentSettings)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_sentiment(settings, stop, registry=CollectorRegistry()))
    try:
        # One good and one bad mention in one push: the bad one is dead-lettered by ingest.
        async with api.client("ingest") as client:
            resp = await client.post(
                "/v1/mentions",
                json=[_item("rid-good"), _item("rid-bad", created_at="not a date")],
                headers={"X-Request-ID": "push-rid-1"},
            )
        assert resp.status_code in (202, 207), resp.text
        # A record the sentiment worker cannot decode, from a push (as the API would tag it).
        await producer.send(
            settings.topic_raw,
            b'{"not": "a mention"}',
            key=b"acme",
            headers=[(REQUEST_ID_HEADER, b"push-rid-2")],
        )
        scored = await read_topic(settings.bootstrap_servers, settings.topic_scored, expected=1)
        letters = await read_topic(settings.bootstrap_servers, settings.topic_dlq, expected=2)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=60)

    assert len(scored) == 1
    assert serde.decode(ScoredMention, scored[0].value).mention.external_id == "rid-good"
    assert _request_id(scored[0]) == "push-rid-1"

    by_stage = {serde.decode(DeadLetter, r.value).stage: r for r in letters}
    assert set(by_stage) == {"ingest", "sentiment"}
    assert _request_id(by_stage["ingest"]) == "push-rid-1"
    assert "rid-bad" in serde.decode(DeadLetter, by_stage["ingest"].value).original
    assert _request_id(by_stage["sentiment"]) == "push-rid-2"
    # The worker's dead-letter line names the push it came from.
    assert [e["message"][:20] for e in _logged(kafka_log, "push-rid-2")] == ["dead-lettered a reco"]


async def test_alerting_dead_letters_a_bad_scored_record_with_its_request_id(
    settings_factory: Any, producer: EventProducer, kafka_log: io.StringIO
) -> None:
    settings: AlertingSettings = settings_factory(AlertingSettings)
    service = RunningAlerting(settings)
    service.start()
    try:
        await producer.send(
            settings.topic_scored,
            b"[1, 2",
            key=b"acme",
            headers=[(REQUEST_ID_HEADER, b"push-rid-3")],
        )
        letters = await read_topic(settings.bootstrap_servers, settings.topic_dlq, expected=1)
        service.assert_running()
    finally:
        await service.shutdown()
    assert len(letters) == 1
    assert serde.decode(DeadLetter, letters[0].value).stage == "alerting"
    assert _request_id(letters[0]) == "push-rid-3"
    assert len(_logged(kafka_log, "push-rid-3")) == 1
