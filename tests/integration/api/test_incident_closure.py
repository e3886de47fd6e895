"""Closing an incident reaches the channels that announced it; dismissals are counted per rule."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.housekeeping import NotificationHousekeeper
from shared.db.config_models import AuditLogRow
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow
from tests.integration.api.conftest import RunningApi
from tests.integration.api.notify_helpers import (
    all_sent,
    channels_settings,
    dispatching,
    open_incident,
    outbox,
)
from tests.notify_fakes import FakeHttp, SmtpServer

DASHBOARD = Path(__file__).parents[3] / "deploy/grafana/dashboards/crisiswatch-alert-quality.json"


def _mine(receiver: FakeHttp, incident_id: int) -> list[dict[str, Any]]:
    link = f"/incidents/{incident_id}?t="
    return [r.json() for r in receiver.delivered() if link in r.body.decode()]


def _plain(smtp: SmtpServer, incident_id: int) -> list[str]:
    link = f"/incidents/{incident_id}?t="
    bodies = [m.get_body(("plain",)).get_content() for m in smtp.inbox.messages]
    return [t for t in (b.replace("\r\n", "\n") for b in bodies) if link in t]


async def _housekeeping(db_engine: AsyncEngine, settings: Any) -> None:
    await NotificationHousekeeper(engine=db_engine, settings=settings).tick(digest=False)


async def test_resolving_notifies_the_channels_that_announced_the_opening(
    api: RunningApi,
    db_engine: AsyncEngine,
    unique: str,
    slack_webhook: FakeHttp,
    smtp_server: SmtpServer,
    webhook_receiver: FakeHttp,
) -> None:
    settings = channels_settings(slack_webhook, smtp_server, webhook_receiver)
    sev1 = await open_incident(db_engine, settings, brand=f"a-{unique}", severity="SEV1")
    sev2 = await open_incident(db_engine, settings, brand=f"b-{unique}", severity="SEV2")
    async with dispatching(db_engine, settings):
        await all_sent(db_engine, sev1, 3)  # SEV1: slack, email, webhook
        await all_sent(db_engine, sev2, 2)  # SEV2: slack, email
        async with api.client("responder") as client:
            for incident_id in (sev1, sev2):
                resolved = await client.post(
                    f"/v1/incidents/{incident_id}/resolve",
                    json={"resolution": "Recall announced; sentiment back to baseline."},
                )
                assert resolved.status_code == 200, resolved.text
        await _housekeeping(db_engine, settings)
        await _housekeeping(db_engine, settings)  # announced once
        await all_sent(db_engine, sev1, 6)
        await all_sent(db_engine, sev2, 4)

    for incident_id, channels in ((sev1, 3), (sev2, 2)):
        rows = await outbox(db_engine, incident_id)
        closing = [r for r in rows if ":resolved:" in r.dedupe_key]
        opening = [r for r in rows if ":opened:" in r.dedupe_key]
        assert sorted(r.channel for r in closing) == sorted(r.channel for r in opening)
        assert len(closing) == channels
    slack = _mine(slack_webhook, sev1)
    assert len(slack) == 2 and "RESOLVED" in slack[1]["text"].upper()
    assert "Resolved by key:" in str(slack[1]["blocks"])
    assert "Recall announced" in str(slack[1]["blocks"])
    assert "Holding statement" not in str(slack[1]["blocks"])
    mails = _plain(smtp_server, sev1)
    assert len(mails) == 2 and "Recall announced; sentiment back to baseline." in mails[1]
    hooks = _mine(webhook_receiver, sev1)
    assert [h["event"] for h in hooks] == ["incident.opened", "incident.resolved"]
    assert hooks[1]["incident"]["status"] == "resolved"
    assert _mine(webhook_receiver, sev2) == []  # SEV2 never went to the webhook


async def test_dismissal_is_a_lifecycle_step_counted_per_rule(
    api: RunningApi,
    db_engine: AsyncEngine,
    unique: str,
    slack_webhook: FakeHttp,
    smtp_server: SmtpServer,
    webhook_receiver: FakeHttp,
) -> None:
    settings = channels_settings(slack_webhook, smtp_server, webhook_receiver)
    brand = f"fp-{unique}"
    incident_id = await open_incident(db_engine, settings, brand=brand)
    later = await open_incident(db_engine, settings, brand=f"late-{unique}")
    reason = "Fan-fiction thread, not about our kettles."
    async with api.client("responder") as client:
        acked = await client.post(f"/v1/incidents/{incident_id}/acknowledge")
        assert acked.status_code == 200
        empty = await client.post(f"/v1/incidents/{incident_id}/dismiss", json={"reason": ""})
        unknown = await client.post(f"/v1/incidents/{incident_id}/dismiss", json={"why": "x"})
        missing = await client.post("/v1/incidents/999999999/dismiss", json={"reason": reason})
        dismissed = await client.post(
            f"/v1/incidents/{incident_id}/dismiss", json={"reason": reason}
        )
        again = await client.post(f"/v1/incidents/{incident_id}/dismiss", json={"reason": reason})
        # A resolved incident may still be judged a false positive afterwards.
        assert (await client.post(f"/v1/incidents/{later}/resolve", json={})).status_code == 200
        retro = await client.post(f"/v1/incidents/{later}/dismiss", json={"reason": reason})
        detail = (await client.get(f"/v1/incidents/{incident_id}")).json()
        listed = (await client.get("/v1/incidents", params={"brand": brand})).json()
    assert empty.status_code == 422 and unknown.status_code == 422
    assert missing.status_code == 404
    assert dismissed.status_code == 200, dismissed.text
    body = dismissed.json()
    assert body["status"] == "resolved" and body["resolved_at"] and body["dismissed_at"]
    assert body["dismissal_reason"] == reason
    assert again.status_code == 409 and "already dismissed" in again.json()["detail"]
    assert retro.status_code == 200 and retro.json()["dismissed_at"]
    assert [e["kind"] for e in detail["timeline"]][-1] == "dismiss"
    assert detail["timeline"][-1]["data"] == {"reason": reason, "rule": "volume_spike"}
    assert listed["items"][0]["dismissed_at"] == body["dismissed_at"]
    async with transaction(db_engine) as session:
        audit = (
            await session.scalars(
                select(AuditLogRow).where(AuditLogRow.target == f"incident:{incident_id}")
            )
        ).all()
    assert [a.action for a in audit][-1] == "incident.dismiss"
    assert audit[-1].details["reason"] == reason

    # The channels hear of the dismissal like of a resolution.
    async with dispatching(db_engine, settings):
        await _housekeeping(db_engine, settings)
        await all_sent(db_engine, incident_id, 6)
    slack = _mine(slack_webhook, incident_id)
    assert "DISMISSED" in slack[-1]["text"].upper()
    assert "Dismissed as a false positive by key:" in str(slack[-1]["blocks"])
    assert [h["event"] for h in _mine(webhook_receiver, incident_id)][-1] == "incident.dismissed"
    async with transaction(db_engine) as session:
        kinds = (
            await session.scalars(
                select(IncidentEventRow.kind).where(IncidentEventRow.incident_id == incident_id)
            )
        ).all()
    assert kinds.count("closure_announced") == 1

    # The alert-quality dashboard counts it per rule, from its own panel query.
    per_rule = await _panel(db_engine, "Incidents per rule")
    spike = next(r for r in per_rule if r.rule == "volume_spike" and r.severity == "SEV1")
    assert spike.dismissed >= 2 and 0 < spike.false_positive_share <= 1
    by_status = {r.metric: r.value for r in await _panel(db_engine, "Incidents by status")}
    assert by_status["dismissed"] >= 2


async def _panel(db_engine: AsyncEngine, title: str) -> list[Any]:
    panel = next(
        p for p in json.loads(DASHBOARD.read_text())["panels"] if p["title"].startswith(title)
    )
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)", r"\1 > now() - interval '1 day'", panel["targets"][0]["rawSql"]
    )
    async with db_engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())
