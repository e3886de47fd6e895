"""A snooze expires: held updates and escalation resume, a severity that rose is notified once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.incidents import work
from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.escalation import escalate_unacknowledged
from services.alerting.notify.housekeeping import NotificationHousekeeper
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from services.alerting.notify.routing import notify_incident
from services.alerting.notify.snoozes import wake_snoozed
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, IncidentRow, OutboxRow
from shared.settings.notify import NotifySettings
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, notify_settings

MakeIncident = Callable[..., Coroutine[Any, Any, int]]
TIER = {"name": "duty_manager", "after_s": 600, "channels": ["slack"]}


def _settings(slack: FakeHttp) -> NotifySettings:
    return notify_settings(slack_webhook_url=slack.url + "/hook", escalation_tiers=[TIER])


async def _incident(engine: AsyncEngine, incident_id: int) -> IncidentRow:
    async with transaction(engine) as session:
        row = await session.get(IncidentRow, incident_id)
        assert row is not None
        session.expunge(row)
        return row


async def _events(engine: AsyncEngine, incident_id: int) -> list[IncidentEventRow]:
    async with transaction(engine) as session:
        rows = await session.scalars(
            select(IncidentEventRow)
            .where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.id)
        )
        return list(rows.all())


async def _outbox(engine: AsyncEngine, incident_id: int) -> list[OutboxRow]:
    async with transaction(engine) as session:
        rows = await session.scalars(
            select(OutboxRow).where(OutboxRow.incident_id == incident_id).order_by(OutboxRow.id)
        )
        return list(rows.all())


async def _escalate(engine: AsyncEngine, at: datetime, settings: NotifySettings, ids: set[int]):
    async with transaction(engine) as session:
        done = await escalate_unacknowledged(session, at, settings=settings)
    return [pair for pair in done if pair[0] in ids]


async def _deliver(engine: AsyncEngine, settings: NotifySettings, incident_id: int) -> None:
    dispatcher = OutboxDispatcher.from_settings(
        settings,
        engine=engine,
        notifiers=build_notifiers(settings),
        metrics=OutboxMetrics(CollectorRegistry()),
    )
    await dispatcher.start()
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        await wait_for(
            lambda: _outbox(engine, incident_id),
            lambda rows: rows and all(r.status == "sent" for r in rows),
            timeout_s=30,
        )
    finally:
        stop.set()
        await task
        await dispatcher.stop()


async def test_snoozed_incident_holds_updates_then_wakes_notifies_and_escalates(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp
) -> None:
    settings = _settings(slack_webhook)
    opened = datetime.now(UTC) - timedelta(minutes=30)
    incident_id = await make_incident("SEV3", opened_at=opened)
    async with transaction(db_engine) as session:
        read = await work.snooze(session, incident_id=incident_id, minutes=60, actor="alice")
    assert read.status == "snoozed" and read.snoozed_until is not None
    until = read.snoozed_until
    # While snoozed: no escalation although the tier is overdue, and a severity rise is held.
    assert await _escalate(db_engine, until - timedelta(minutes=1), settings, {incident_id}) == []
    async with transaction(db_engine) as session:
        await session.execute(
            update(IncidentRow).where(IncidentRow.id == incident_id).values(severity="SEV1")
        )
        queued = await notify_incident(
            session, incident_id, update_kind="severity_changed", settings=settings
        )
    assert queued == []
    assert await _outbox(db_engine, incident_id) == []
    async with transaction(db_engine) as session:
        # not expired yet: nothing wakes
        assert incident_id not in await wake_snoozed(
            session, until - timedelta(seconds=1), settings=settings
        )
    woke_at = until + timedelta(seconds=5)
    async with transaction(db_engine) as session:
        assert incident_id in await wake_snoozed(session, woke_at, settings=settings)
    row = await _incident(db_engine, incident_id)
    assert (row.status, row.snoozed_until) == ("open", None)
    events = await _events(db_engine, incident_id)
    kinds = [e.kind for e in events]
    assert kinds.count("notification_held") == 1 and kinds.count("snooze_expired") == 1
    expired = next(e for e in events if e.kind == "snooze_expired")
    assert expired.data["status"] == "open"
    assert (expired.data["severity_at_snooze"], expired.data["severity"]) == ("SEV3", "SEV1")
    # Waking again changes nothing and notifies nothing more.
    async with transaction(db_engine) as session:
        assert incident_id not in await wake_snoozed(session, woke_at, settings=settings)
    rows = await _outbox(db_engine, incident_id)
    assert [r.dedupe_key for r in rows] == [f"incident:{incident_id}:severity_changed:SEV1:slack"]
    # Escalation resumes, its tier counted from the wake, not from the opening.
    assert await _escalate(db_engine, woke_at + timedelta(minutes=9), settings, {incident_id}) == []
    assert await _escalate(db_engine, woke_at + timedelta(minutes=10), settings, {incident_id}) == [
        (incident_id, "duty_manager")
    ]
    await _deliver(db_engine, settings, incident_id)
    bodies = [r.body.decode() for r in slack_webhook.delivered()]
    mine = [b for b in bodies if f"/incidents/{incident_id}?" in b]
    assert len(mine) == 2
    assert any("Severity rose from SEV3 to SEV1 while snoozed" in b for b in mine)
    assert any("escalated to duty_manager" in b for b in mine)


async def test_acknowledged_incident_wakes_acknowledged_without_a_page(
    db_engine: AsyncEngine, make_incident: MakeIncident, slack_webhook: FakeHttp
) -> None:
    settings = _settings(slack_webhook)
    opened = datetime.now(UTC) - timedelta(minutes=30)
    incident_id = await make_incident("SEV2", opened_at=opened)
    async with transaction(db_engine) as session:
        await work.acknowledge(session, incident_id=incident_id, actor="bob")
        await work.snooze(session, incident_id=incident_id, minutes=30, actor="bob")
    # The housekeeper's own tick wakes it once its time has passed.
    async with transaction(db_engine) as session:
        await session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id)
            .values(snoozed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await NotificationHousekeeper(engine=db_engine, settings=settings).tick(digest=False)
    row = await _incident(db_engine, incident_id)
    assert (row.status, row.snoozed_until) == ("acknowledged", None)
    snooze = next(e for e in await _events(db_engine, incident_id) if e.kind == "snooze")
    assert (snooze.data["previous"], snooze.data["severity"]) == ("acknowledged", "SEV2")
    # Same severity, acknowledged: no notification, and never escalated.
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await _escalate(db_engine, later, settings, {incident_id}) == []
    assert await _outbox(db_engine, incident_id) == []
