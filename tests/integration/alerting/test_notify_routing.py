"""notify_incident routes by severity, dedupes updates, batches low severities into a digest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from services.alerting.notify.routing import flush_digest, notify_incident
from shared.db.engine import transaction
from shared.db.models import OutboxRow
from tests.kafka_helpers import wait_for
from tests.notify_fakes import WEBHOOK_SIGNING_SECRET, FakeHttp, SmtpServer, notify_settings

MakeIncident = Callable[..., Coroutine[Any, Any, int]]


def _settings(
    slack: str = "http://127.0.0.1:9/api",
    smtp_port: int = 9,
    webhook: str = "http://127.0.0.1:9/hook",
) -> Any:
    return notify_settings(
        slack_bot_token="xoxb-test",
        slack_channel="#crisis",
        slack_api_base=slack,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        smtp_from="alerts@crisiswatch.local",
        smtp_to=["pr@brand.local"],
        webhook_url=webhook,
        webhook_signing_secret=WEBHOOK_SIGNING_SECRET,
        webhook_allow_private=True,  # the receiver runs on 127.0.0.1
    )


async def _outbox(engine: AsyncEngine, incident_id: int) -> list[OutboxRow]:
    async with transaction(engine) as session:
        rows = await session.scalars(
            select(OutboxRow).where(OutboxRow.incident_id == incident_id).order_by(OutboxRow.id)
        )
        return list(rows.all())


async def test_routing_by_severity_and_dedupe(
    db_engine: AsyncEngine, make_incident: MakeIncident
) -> None:
    settings = _settings()
    sev1, sev2, sev3 = [await make_incident(s) for s in ("SEV1", "SEV2", "SEV3")]
    async with transaction(db_engine) as session:
        assert await notify_incident(session, sev1, update_kind="opened", settings=settings) == [
            "slack",
            "email",
            "webhook",
        ]
        assert await notify_incident(session, sev2, update_kind="opened", settings=settings) == [
            "slack",
            "email",
        ]
        assert await notify_incident(session, sev3, update_kind="opened", settings=settings) == [
            "digest"
        ]
    async with transaction(db_engine) as session:
        # The same update again enqueues nothing.
        assert await notify_incident(session, sev1, update_kind="opened", settings=settings) == []
    rows = await _outbox(db_engine, sev1)
    assert sorted(r.channel for r in rows) == ["email", "slack", "webhook"]
    assert {r.status for r in await _outbox(db_engine, sev3)} == {"held"}


async def test_digest_summarises_several_incidents(
    db_engine: AsyncEngine, make_incident: MakeIncident, unique: str
) -> None:
    settings = _settings()
    ids = [await make_incident("SEV3"), await make_incident("SEV4")]
    async with transaction(db_engine) as session:
        for incident_id in ids:
            await notify_incident(session, incident_id, update_kind="opened", settings=settings)
    async with transaction(db_engine) as session:
        assert await flush_digest(session, settings=settings) >= 2
    async with transaction(db_engine) as session:
        digests = list(
            (
                await session.scalars(
                    select(OutboxRow).where(
                        OutboxRow.incident_id.is_(None), OutboxRow.dedupe_key.like("digest:%")
                    )
                )
            ).all()
        )
        await session.execute(delete(OutboxRow).where(OutboxRow.id.in_([d.id for d in digests])))
    assert sorted(d.channel for d in digests) == ["email", "slack"]
    slack = next(d for d in digests if d.channel == "slack").payload
    assert f"brand-{unique}-0" in slack["text"] + str(slack["blocks"])
    assert f"brand-{unique}-1" in str(slack["blocks"])
    assert {r.status for r in await _outbox(db_engine, ids[0])} == {"digested"}


async def test_sev1_reaches_every_channel_once(
    db_engine: AsyncEngine,
    make_incident: MakeIncident,
    slack_api: FakeHttp,
    smtp_server: SmtpServer,
    webhook_receiver: FakeHttp,
) -> None:
    settings = _settings(
        slack=slack_api.url, smtp_port=smtp_server.port, webhook=webhook_receiver.url
    )
    incident_id = await make_incident("SEV1")
    async with transaction(db_engine) as session:
        await notify_incident(session, incident_id, update_kind="opened", settings=settings)
    notifiers = build_notifiers(settings)
    dispatcher = OutboxDispatcher.from_settings(
        settings, engine=db_engine, notifiers=notifiers, metrics=OutboxMetrics(CollectorRegistry())
    )
    await dispatcher.start()
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        rows = await wait_for(
            lambda: _outbox(db_engine, incident_id),
            lambda rs: all(r.status == "sent" for r in rs),
            timeout_s=30,
        )
    finally:
        stop.set()
        await task
        await dispatcher.stop()
    assert [r.status for r in rows] == ["sent"] * 3
    # Other tests in this session may leave rows for the same channels: count only ours.
    link = f"/incidents/{incident_id}?t="
    assert len([r for r in slack_api.delivered() if link in r.body.decode()]) == 1
    assert len([r for r in webhook_receiver.delivered() if link in r.body.decode()]) == 1
    mails = [m for m in smtp_server.inbox.messages if link in m.get_body(("plain",)).get_content()]
    assert len(mails) == 1
