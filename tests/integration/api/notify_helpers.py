"""Open incidents the way the alerting worker does and deliver their outbox to local receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.incidents.store import IncidentChange
from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from services.alerting.service import NotifyHooks
from shared.db.engine import transaction
from shared.db.models import IncidentRow, OutboxRow
from shared.settings.notify import NotifySettings
from tests.kafka_helpers import wait_for
from tests.notify_fakes import WEBHOOK_SIGNING_SECRET, FakeHttp, SmtpServer, notify_settings


def channels_settings(
    slack: FakeHttp, smtp: SmtpServer, webhook: FakeHttp, **values: Any
) -> NotifySettings:
    """Notify settings delivering to the local Slack webhook, SMTP server and webhook."""
    return notify_settings(
        slack_webhook_url=slack.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="alerts@crisiswatch.local",
        smtp_to=["pr@brand.local"],
        webhook_url=webhook.url,
        webhook_signing_secret=WEBHOOK_SIGNING_SECRET,
        webhook_allow_private=True,  # the receiver runs on 127.0.0.1
        **values,
    )


async def open_incident(
    engine: AsyncEngine,
    settings: NotifySettings,
    *,
    brand: str,
    category: str = "safety",
    severity: str = "SEV1",
    topic: str = "",
) -> int:
    """Insert an open incident and run the worker's hooks (playbook + notifications) on it."""
    async with transaction(engine) as session:
        row = IncidentRow(
            brand=brand,
            topic=topic,
            category=category,
            rule="volume_spike",
            status="open",
            severity=severity,
            title=f"{brand}: battery fires reported",
            signal_count=1,
            scope={},
            reasons=[],
            details={"metric": "volume", "value": 120.0, "baseline": 10.0},
            opened_at=datetime.now(UTC),
        )
        session.add(row)
        await session.flush()
        change = IncidentChange(row.id, "opened", severity, None, category)
        await NotifyHooks(settings)(session, change)
        return int(row.id)


async def outbox(engine: AsyncEngine, incident_id: int) -> list[OutboxRow]:
    """The incident's outbox rows, oldest first."""
    async with transaction(engine) as session:
        rows = await session.scalars(
            select(OutboxRow).where(OutboxRow.incident_id == incident_id).order_by(OutboxRow.id)
        )
        return list(rows.all())


@asynccontextmanager
async def dispatching(engine: AsyncEngine, settings: NotifySettings) -> AsyncIterator[None]:
    """Run an outbox dispatcher over the configured channels while the block runs."""
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
        yield
    finally:
        stop.set()
        await task
        await dispatcher.stop()


async def all_sent(engine: AsyncEngine, incident_id: int, count: int) -> list[OutboxRow]:
    """Wait until the incident has `count` outbox rows, all sent; return them."""
    rows = await wait_for(
        lambda: outbox(engine, incident_id),
        lambda rs: len(rs) == count and all(r.status == "sent" for r in rs),
        timeout_s=30,
    )
    assert [r.status for r in rows] == ["sent"] * count, [(r.channel, r.status) for r in rows]
    return rows
