"""The outbox against the real database: dedupe, retries, replicas, recovery after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.channels.slack_api import METADATA_EVENT_TYPE, SlackApiNotifier
from services.alerting.notify.channels.slack_webhook import SlackWebhookNotifier
from services.alerting.notify.channels.smtp import SmtpNotifier, message_id
from services.alerting.notify.channels.webhook import WebhookNotifier
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics, enqueue
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, OutboxRow
from tests.kafka_helpers import free_port, wait_for
from tests.notify_fakes import WEBHOOK_SIGNING_SECRET, FakeHttp, SmtpServer

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


async def test_an_outcome_the_database_refuses_fails_that_row_only(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_api: FakeHttp, unique: str
) -> None:
    """Slack's error text holds a NUL, which PostgreSQL text refuses: that row is marked
    failed with the reason (no retry forever), and the next row is delivered."""
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    async with transaction(db_engine) as session:
        for n in (1, 2):
            await enqueue(
                session,
                incident_id=incident_id,
                channel=channel,
                dedupe_key=f"{channel}:{n}",
                payload={"text": f"update {n}", "blocks": []},
            )
    slack_api.fail_next((200, {}, b'{"ok": false, "error": "is_\\u0000archived"}'))
    registry = CollectorRegistry()
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    dispatcher = _dispatcher(db_engine, {channel: notifier}, registry, batch_size=1)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        rows = await wait_for(
            lambda: _rows(db_engine, channel),
            lambda rs: {r.status for r in rs} == {"failed", "sent"},
            timeout_s=20,
        )
        assert not task.done(), "the dispatcher stopped"
    finally:
        stop.set()
        await task
        await notifier.stop()
    refused, sent = sorted(rows, key=lambda r: r.id)
    assert refused.status == "failed" and refused.attempts == 1
    assert refused.last_error is not None
    assert refused.last_error.startswith("database refused: 22021"), refused.last_error
    assert sent.status == "sent" and [m.text for m in slack_api.messages] == ["update 2"]
    assert _count(registry, channel, "failed") == 1 and _count(registry, channel, "sent") == 1
    async with transaction(db_engine) as session:
        kinds = (
            await session.scalars(
                select(IncidentEventRow.kind).where(IncidentEventRow.incident_id == incident_id)
            )
        ).all()
    assert sorted(kinds) == ["notification_failed", "notified"]


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
        timeout_s=15,  # a live server: generous for a loaded machine
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


# Crash recovery: a dispatcher dies after the channel accepted a message but before the
# transaction that marks it sent. `claim` and `deliver` run, `settle` never does; a restarted
# dispatcher (another id) takes the row over once the lease expires. The crash tests move the
# crashed row's lease into the past instead of waiting it out; the live-lease test waits.

CRASH_LEASE_S = 2.0


async def _events(engine: AsyncEngine, incident_id: int) -> list[IncidentEventRow]:
    async with transaction(engine) as session:
        rows = await session.scalars(
            select(IncidentEventRow)
            .where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.id)
        )
        return list(rows.all())


async def _enqueue_one(
    engine: AsyncEngine, incident_id: int, channel: str, payload: dict[str, Any]
) -> str:
    key = f"incident:{incident_id}:opened:SEV1:{channel}"
    async with transaction(engine) as session:
        await enqueue(
            session, incident_id=incident_id, channel=channel, dedupe_key=key, payload=payload
        )
    return key


async def _crash_mid_delivery(
    engine: AsyncEngine, notifiers: dict[str, Any], *, send: bool = True
) -> None:
    """Claim and (unless `send` is false) deliver, then die before settling."""
    crashed = _dispatcher(
        engine, notifiers, CollectorRegistry(), lease_s=CRASH_LEASE_S, dispatcher_id="crashed"
    )
    rows = await crashed.claim()
    assert len(rows) == 1
    if send:
        (attempt,) = await crashed.deliver(rows)
        assert attempt.error is None
    (row,) = await _rows(engine, rows[0].channel)
    assert (row.status, row.claimed_by, row.attempts) == ("sending", "crashed", 1)
    assert row.next_attempt_at is not None and row.first_attempt_at is not None
    assert row.next_attempt_at > row.first_attempt_at, "the claim took no lease"
    async with transaction(engine) as session:  # the lease runs out
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(next_attempt_at=func.now() - timedelta(seconds=1))
        )


async def _recover(
    engine: AsyncEngine, notifiers: dict[str, Any], registry: CollectorRegistry, channel: str
) -> OutboxRow:
    """Run a restarted dispatcher until the crashed row's lease expired and it is settled."""
    restarted = _dispatcher(engine, notifiers, registry, dispatcher_id="restarted")
    handled = await wait_for(restarted.dispatch_once, lambda n: n == 1, timeout_s=20)
    assert handled == 1, "the crashed row was never recovered"
    assert await restarted.dispatch_once() == 0
    (row,) = await _rows(engine, channel)
    assert (row.status, row.claimed_by, row.attempts) == ("sent", None, 2)
    return row


def _recovered_event(events: list[IncidentEventRow]) -> dict[str, Any]:
    (event,) = [e for e in events if e.kind == "notification_recovered"]
    assert [e.kind for e in events].count("notified") == 1
    return event.data


def _recoveries(registry: CollectorRegistry, channel: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "crisiswatch_notify_recoveries_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


async def test_slack_api_crash_after_posting_is_confirmed_not_reposted(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_api: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    key = await _enqueue_one(db_engine, incident_id, channel, {"text": "fire", "blocks": []})
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    registry = CollectorRegistry()
    try:
        await _crash_mid_delivery(db_engine, {channel: notifier})
        (posted,) = slack_api.messages
        assert posted.metadata == {
            "event_type": METADATA_EVENT_TYPE,
            "event_payload": {"dedupe_key": key},
        }
        row = await _recover(db_engine, {channel: notifier}, registry, channel)
    finally:
        await notifier.stop()
    assert len(slack_api.messages) == 1, "the recovered row was posted again"
    assert len(slack_api.delivered()) == 1
    (lookup,) = slack_api.lookups
    assert lookup["channel"] == "C0CRISIS" and lookup["include_all_metadata"] == "true"
    assert row.first_attempt_at is not None
    assert float(lookup["oldest"]) < row.first_attempt_at.timestamp() < float(posted.ts) + 1
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert recovered["outcome"] == "confirmed"
    assert recovered["resent"] is False and recovered["possibly_repeated"] is False
    assert "crashed" in recovered["reason"]
    assert _recoveries(registry, channel, "confirmed") == 1
    assert _count(registry, channel, "sent") == 1


async def test_slack_api_crash_before_posting_posts_once(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_api: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    await _enqueue_one(db_engine, incident_id, channel, {"text": "fire", "blocks": []})
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    registry = CollectorRegistry()
    try:
        await _crash_mid_delivery(db_engine, {channel: notifier}, send=False)
        await _recover(db_engine, {channel: notifier}, registry, channel)
    finally:
        await notifier.stop()
    assert len(slack_api.messages) == 1 and len(slack_api.lookups) == 1
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert (recovered["outcome"], recovered["resent"]) == ("not_delivered", True)
    assert recovered["possibly_repeated"] is False
    assert _recoveries(registry, channel, "not_delivered") == 1


@pytest.mark.parametrize(
    ("slack_channel", "history_scope", "error"),
    [("#crisis", True, "channel_not_found"), ("C0CRISIS", False, "missing_scope")],
)
async def test_slack_api_failed_lookup_falls_back_to_resending(
    db_engine: AsyncEngine,
    make_incident: MakeIncident,
    slack_api: FakeHttp,
    unique: str,
    slack_channel: str,
    history_scope: bool,
    error: str,
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    await _enqueue_one(db_engine, incident_id, channel, {"text": "fire", "blocks": []})
    slack_api.history_scope = history_scope
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), slack_channel, api_base=slack_api.url)
    registry = CollectorRegistry()
    try:
        await _crash_mid_delivery(db_engine, {channel: notifier})
        await _recover(db_engine, {channel: notifier}, registry, channel)
    finally:
        await notifier.stop()
    # At least once: never lost, and the repeat is on record with the reason.
    assert len(slack_api.messages) == 2
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert recovered["outcome"] == "check_failed" and recovered["possibly_repeated"] is True
    assert error in recovered["reason"]
    assert _recoveries(registry, channel, "check_failed") == 1


async def test_webhook_crash_after_delivery_is_processed_once(
    db_engine: AsyncEngine, make_incident: MakeIncident, webhook_receiver: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"webhook-{unique}"
    key = await _enqueue_one(db_engine, incident_id, channel, {"event": "incident.opened"})
    notifier = WebhookNotifier(
        SecretStr(webhook_receiver.url), SecretStr(WEBHOOK_SIGNING_SECRET), allow_private=True
    )
    registry = CollectorRegistry()
    try:
        await _crash_mid_delivery(db_engine, {channel: notifier})
        await _recover(db_engine, {channel: notifier}, registry, channel)
    finally:
        await notifier.stop()
    assert [r.headers["idempotency-key"] for r in webhook_receiver.delivered()] == [key, key]
    (processed,) = webhook_receiver.processed()
    assert processed.json() == {"event": "incident.opened"}
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert (recovered["outcome"], recovered["resent"]) == ("deduplicated", True)
    assert recovered["possibly_repeated"] is False
    assert _recoveries(registry, channel, "deduplicated") == 1


async def test_email_crash_after_delivery_resends_the_same_message_id(
    db_engine: AsyncEngine, make_incident: MakeIncident, smtp_server: SmtpServer, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"email-{unique}"
    key = await _enqueue_one(
        db_engine, incident_id, channel, {"subject": "SEV1", "text": "t", "html": "<p>t</p>"}
    )
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="a@crisiswatch.local",
        recipients=["pr@brand.local"],
        starttls=False,
        timeout_s=15,  # a live server: generous for a loaded machine
    )
    registry = CollectorRegistry()
    await _crash_mid_delivery(db_engine, {channel: notifier})
    await _recover(db_engine, {channel: notifier}, registry, channel)
    ids = [m["Message-ID"] for m in smtp_server.inbox.messages]
    assert ids == [message_id(key), message_id(key)]
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert recovered["outcome"] == "same_message_id" and recovered["possibly_repeated"] is True
    assert _recoveries(registry, channel, "same_message_id") == 1


async def test_slack_webhook_crash_after_delivery_is_resent_and_recorded(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    await _enqueue_one(db_engine, incident_id, channel, {"text": "fire", "blocks": []})
    notifier = SlackWebhookNotifier(SecretStr(f"{slack_webhook.url}/hook"))
    registry = CollectorRegistry()
    try:
        await _crash_mid_delivery(db_engine, {channel: notifier})
        await _recover(db_engine, {channel: notifier}, registry, channel)
    finally:
        await notifier.stop()
    # An incoming webhook cannot be asked: at least once, and the possible repeat is recorded.
    assert len(slack_webhook.delivered()) == 2
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert recovered["outcome"] == "possibly_repeated" and recovered["resent"] is True
    assert recovered["possibly_repeated"] is True
    assert _recoveries(registry, channel, "possibly_repeated") == 1


async def test_a_live_lease_is_not_taken_over_and_a_stale_settle_changes_nothing(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_api: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    await _enqueue_one(db_engine, incident_id, channel, {"text": "fire", "blocks": []})
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    slow_registry, registry = CollectorRegistry(), CollectorRegistry()
    slow = _dispatcher(
        db_engine, {channel: notifier}, slow_registry, lease_s=CRASH_LEASE_S, dispatcher_id="slow"
    )
    other = _dispatcher(db_engine, {channel: notifier}, registry, dispatcher_id="other")
    try:
        rows = await slow.claim()
        assert await other.dispatch_once() == 0, "a live lease was taken over"
        attempts = await slow.deliver(rows)
        # The slow dispatcher misses its lease; the other one confirms and settles the row.
        handled = await wait_for(other.dispatch_once, lambda n: n == 1, timeout_s=20)
        assert handled == 1
        await slow.settle(rows, attempts)
    finally:
        await notifier.stop()
    (row,) = await _rows(db_engine, channel)
    assert (row.status, row.attempts, row.claimed_by) == ("sent", 2, None)
    assert len(slack_api.messages) == 1
    assert _count(slow_registry, channel, "sent") == 0
    assert _count(registry, channel, "sent") == 1
    kinds = [e.kind for e in await _events(db_engine, incident_id)]
    assert kinds.count("notified") == 1


async def test_replicas_claim_disjoint_rows(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    async with transaction(db_engine) as session:
        for i in range(30):
            await enqueue(
                session,
                incident_id=incident_id,
                channel=channel,
                dedupe_key=f"{channel}:{i}",
                payload={"text": str(i)},
            )
    notifier = SlackWebhookNotifier(SecretStr(slack_webhook.url))
    replicas = [
        _dispatcher(db_engine, {channel: notifier}, CollectorRegistry(), batch_size=4)
        for _ in range(4)
    ]
    claims = await asyncio.gather(*(r.claim() for r in replicas))
    ids = [row.id for claimed in claims for row in claimed]
    assert len(ids) == 16 and len(set(ids)) == 16
    for replica, claimed in zip(replicas, claims, strict=True):
        await replica.settle(claimed, await replica.deliver(claimed))
    while sum(await asyncio.gather(*(r.dispatch_once() for r in replicas))):
        pass
    await notifier.stop()
    assert sorted(int(r.json()["text"]) for r in slack_webhook.delivered()) == list(range(30))


async def test_a_dropped_answer_is_confirmed_before_retrying(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_api: FakeHttp, unique: str
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    await _enqueue_one(db_engine, incident_id, channel, {"text": "fire", "blocks": []})
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    registry = CollectorRegistry()
    dispatcher = _dispatcher(db_engine, {channel: notifier}, registry)

    def drop() -> None:
        slack_api.on_posted = None
        raise ConnectionAbortedError("Slack took the message, then the connection dropped")

    slack_api.on_posted = drop
    try:
        assert await dispatcher.dispatch_once() == 1
        (row,) = await _rows(db_engine, channel)
        assert (row.status, row.in_doubt) == ("pending", True)
        handled = await wait_for(dispatcher.dispatch_once, lambda n: n == 1, timeout_s=20)
        assert handled == 1
    finally:
        await notifier.stop()
    (row,) = await _rows(db_engine, channel)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(slack_api.messages) == 1, "a timed-out post was repeated"
    recovered = _recovered_event(await _events(db_engine, incident_id))
    assert recovered["outcome"] == "confirmed"
    assert "RemoteProtocolError" in recovered["reason"]
    assert _count(registry, channel, "retry") == 1 and _count(registry, channel, "sent") == 1
