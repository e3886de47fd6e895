"""Unacknowledged incidents escalate to the next contact tier, once per tier."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.escalation import escalate_unacknowledged
from services.alerting.playbooks.runs import overdue_steps, start_playbook_run
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


async def test_escalations_and_overdue_notices_reply_in_the_incident_threads(
    db_engine: AsyncEngine, make_incident: MakeIncident
) -> None:
    settings = notify_settings(
        slack_webhook_url="http://127.0.0.1:9/hook",
        smtp_host="127.0.0.1",
        smtp_from="crisiswatch@acme.example",
        smtp_to=["pr@acme.example"],
        escalation_tiers=[{"name": "duty_manager", "after_s": 600, "channels": ["slack", "email"]}],
        overdue_channels=["slack", "email"],
    )
    root = "<opening@crisiswatch>"
    threads = {
        "email": {"message_id": root, "subject": "[SEV1] Battery fires"},
        "slack": {"opening_key": "incident:1:opened:SEV1:slack"},
    }
    opened = datetime.now(UTC) - timedelta(minutes=60)
    incident_id = await make_incident(
        opened_at=opened, category="recall", details={"metric": "volume", "threads": threads}
    )
    async with transaction(db_engine) as session:
        await start_playbook_run(session, incident_id, "recall", opened)
    async with transaction(db_engine) as session:
        assert await escalate_unacknowledged(session, datetime.now(UTC), settings=settings)
        assert await overdue_steps(session, datetime.now(UTC), settings=settings)
    async with transaction(db_engine) as session:
        rows = (
            await session.scalars(select(OutboxRow).where(OutboxRow.incident_id == incident_id))
        ).all()
    escalations = {r.channel: r.payload for r in rows if ":escalation:" in r.dedupe_key}
    overdue = [r.payload for r in rows if ":overdue:" in r.dedupe_key]
    assert set(escalations) == {"slack", "email"} and overdue
    assert escalations["email"]["in_reply_to"] == root
    assert escalations["email"]["subject"] == "Re: [SEV1] Battery fires"
    assert escalations["slack"]["thread"] == {
        "incident": incident_id,
        "opening": False,
        "broadcast": True,
    }
    for payload in overdue:
        if "subject" in payload:
            assert payload["in_reply_to"] == root and payload["references"] == root
        else:
            assert payload["thread"] == {"incident": incident_id, "opening": False}
