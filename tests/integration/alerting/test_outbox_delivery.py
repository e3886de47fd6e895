"""The outbox against the real database: dedupe, retries through outages, exactly-once sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notifiers.slack_webhook import SlackWebhookNotifier
from services.alerting.notifiers.smtp import SmtpNotifier
from services.alerting.outbox import OutboxDispatcher, OutboxMetrics, enqueue
from shared.db.engine import transaction
from shared.db.models import OutboxRow
from tests.integration.alerting.test_notify_fakes import (  # noqa: F401  (fixtures)
    FakeHttp,
    SmtpServer,
    make_incident_fixture,
    slack_webhook_fixture,
)
from tests.kafka_helpers import free_port, wait_for

MakeIncident = Callable[..., Coroutine[Any, Any, int]]


async def _rows(engine: AsyncEngine, channel: str) -> list[OutboxRow]:
    async with transaction(engine) as session:
        return list(
            (await session.scalars(select(OutboxRow).where(OutboxRow.channel == channel))).all()
        )


def _dispatcher(
    engine: AsyncEngine, notifiers: dict[str, Any], registry: CollectorRegistry, **kwargs: Any
) -> OutboxDispatcher:
    options = {"backoff_base_s": 0.05, "backoff_max_s": 0.3, "poll_interval_s": 0.05, **kwargs}
    return OutboxDispatcher(
        engine=engine, notifiers=notifiers, metrics=OutboxMetrics(registry), **options
    )


def _count(registry: CollectorRegistry, channel: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "crisiswatch_notify_deliveries_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


async def test_enqueue_is_deduplicated(
    db_engine: AsyncEngine, make_incident: MakeIncident, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    async with transaction(db_engine) as session:
        first = await enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            dedupe_key=f"k-{unique}",
            payload={"text": "a"},
        )
        second = await enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            dedupe_key=f"k-{unique}",
            payload={"text": "b"},
        )
    assert first is not None and second is None
    assert [r.payload for r in await _rows(db_engine, channel)] == [{"text": "a"}]


async def test_flaky_slack_gets_every_message_exactly_once(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    texts = [f"update {i} {unique}" for i in range(5)]
    async with transaction(db_engine) as session:
        for text in texts:
            await enqueue(
                session,
                incident_id=incident_id,
                channel=channel,
                dedupe_key=f"{channel}:{text}",
                payload={"text": text, "blocks": []},
            )
    slack_webhook.fail_next(
        (429, {"Retry-After": "1"}, b"rate_limited"),
        *[(500, {}, b"internal_error")] * 3,
    )
    registry = CollectorRegistry()
    notifier = SlackWebhookNotifier(SecretStr(f"{slack_webhook.url}/hook"))
    dispatcher = _dispatcher(db_engine, {channel: notifier}, registry, batch_size=2)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        rows = await wait_for(
            lambda: _rows(db_engine, channel),
            lambda rs: all(r.status == "sent" for r in rs),
            timeout_s=30,
        )
    finally:
        stop.set()
        await task
    assert all(r.status == "sent" for r in rows)
    delivered = sorted(r.json()["text"] for r in slack_webhook.delivered())
    assert delivered == sorted(texts)
    assert _count(registry, channel, "sent") == 5
    assert _count(registry, channel, "retry") == 4
    # A restarted dispatcher finds nothing left to send.
    again = _dispatcher(db_engine, {channel: notifier}, CollectorRegistry())
    assert await again.dispatch_once() == 0
    await notifier.stop()
    assert len(slack_webhook.delivered()) == 5


async def test_max_attempts_marks_failed(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    async with transaction(db_engine) as session:
        await enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            dedupe_key=f"{channel}:x",
            payload={"text": "x"},
        )
    slack_webhook.fail_next(*[(503, {}, b"down")] * 10)
    registry = CollectorRegistry()
    notifier = SlackWebhookNotifier(SecretStr(f"{slack_webhook.url}/hook"))
    dispatcher = _dispatcher(db_engine, {channel: notifier}, registry, max_attempts=3)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        (row,) = await wait_for(
            lambda: _rows(db_engine, channel), lambda rs: rs[0].status == "failed", timeout_s=20
        )
    finally:
        stop.set()
        await task
        await notifier.stop()
    assert row.status == "failed" and row.attempts == 3
    assert row.last_error == "slack webhook: HTTP 503"
    assert _count(registry, channel, "failed") == 1


async def test_email_waits_for_smtp_to_come_back(
    db_engine: AsyncEngine, make_incident: MakeIncident, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"email-{unique}"
    server = SmtpServer(free_port())
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=server.port,
        sender="a@crisiswatch.local",
        recipients=["pr@brand.local"],
        starttls=False,
        timeout_s=2,
    )
    async with transaction(db_engine) as session:
        await enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            dedupe_key=channel,
            payload={"subject": "SEV1", "text": "t", "html": "<p>t</p>"},
        )
    dispatcher = _dispatcher(db_engine, {channel: notifier}, CollectorRegistry())
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await wait_for(lambda: _rows(db_engine, channel), lambda rs: rs[0].attempts >= 2)
        server.start()
        (row,) = await wait_for(
            lambda: _rows(db_engine, channel), lambda rs: rs[0].status == "sent", timeout_s=30
        )
    finally:
        stop.set()
        await task
        server.stop()
    assert row.status == "sent"
    assert len(server.inbox.messages) == 1


async def test_sent_rows_are_counted_once_in_the_timeline(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    async with transaction(db_engine) as session:
        await enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            dedupe_key=channel,
            payload={"text": "x"},
        )
    notifier = SlackWebhookNotifier(SecretStr(slack_webhook.url))
    dispatcher = _dispatcher(db_engine, {channel: notifier}, CollectorRegistry())
    assert await dispatcher.dispatch_once() == 1
    assert await dispatcher.dispatch_once() == 0
    await notifier.stop()
    async with transaction(db_engine) as session:
        sent = await session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.status == "sent", OutboxRow.channel == channel)
        )
    assert sent == 1
