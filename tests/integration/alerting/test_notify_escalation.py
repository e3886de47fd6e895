"""Unacknowledged incidents escalate to the next contact tier, once per tier."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.escalation import escalate_unacknowledged
from shared.db.engine import transaction
from shared.db.models import OutboxRow
from tests.notify_fakes import notify_settings

MakeIncident = Callable[..., Coroutine[Any, Any, int]]


async def test_each_tier_is_notified_once(
    db_engine: AsyncEngine, make_incident: MakeIncident
) -> None:
    settings = notify_settings(
        slack_webhook_url="http://127.0.0.1:9/hook",
        escalation_tiers=[
            {"name": "duty_manager", "after_s": 600, "channels": ["slack"]},
            {
                "name": "executives",
                "after_s": 1800,
                "channels": ["slack"],
                "slack_channel": "#exec",
            },
        ],
    )
    opened = datetime.now(UTC) - timedelta(minutes=15)
    incident_id = await make_incident(opened_at=opened)
    acked = await make_incident(opened_at=opened, acknowledged_at=opened)
    now = datetime.now(UTC)

    async def escalate(at: datetime) -> list[tuple[int, str]]:
        async with transaction(db_engine) as session:
            result = await escalate_unacknowledged(session, at, settings=settings)
        return [pair for pair in result if pair[0] in (incident_id, acked)]

    assert await escalate(now) == [(incident_id, "duty_manager")]
    assert await escalate(now) == []
    assert await escalate(now + timedelta(minutes=20)) == [(incident_id, "executives")]
    assert await escalate(now + timedelta(minutes=30)) == []
    async with transaction(db_engine) as session:
        rows = (
            await session.scalars(
                select(OutboxRow).where(OutboxRow.incident_id == incident_id).order_by(OutboxRow.id)
            )
        ).all()
    assert [r.dedupe_key.split(":")[3] for r in rows] == ["duty_manager", "executives"]
    assert rows[1].payload["channel"] == "#exec"
    assert "escalated to executives" in str(rows[1].payload["blocks"])
