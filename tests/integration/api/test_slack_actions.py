"""Slack interactivity end to end: a page with buttons, signed clicks, forged/stale/replayed ones.

The API is served for real; the local Slack stand-in (`slack_webhook` fixture) receives the
page and the `response_url` updates; the clicks are signed exactly as Slack signs them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.slack.signature import sign
from shared.db.config_models import AuditLogRow
from shared.db.engine import transaction
from shared.db.models import HourlyRollupRow, IncidentEventRow, IncidentRow
from tests.integration.api.conftest import RunningApi
from tests.integration.api.notify_helpers import all_sent, dispatching, open_incident
from tests.kafka_helpers import wait_for
from tests.notify_fakes import FakeHttp, notify_settings

SECRET = "test-slack-signing-secret"
USER = {"id": "U0MARIA", "username": "maria", "name": "maria"}


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {
        "slack_signing_secret": SECRET,
        "slack_response_hosts": ["127.0.0.1"],
        "slack_response_allow_http": True,
    }


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`."""
    ts = str(int(at if at is not None else time.time()))
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(secret.encode(), ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click(
    action_id: str, value: str, message: dict[str, Any], response_url: str, **extra: Any
) -> bytes:
    """The form body of a `block_actions` interaction on `message`."""
    action: dict[str, Any] = {"action_id": action_id, "block_id": "cw_actions", "type": "button"}
    if action_id == "cw_dismiss":
        action["selected_option"] = {"value": value}
    else:
        action["value"] = value
    payload = {
        "type": "block_actions",
        "user": USER,
        "trigger_id": f"t{time.monotonic_ns()}",
        "response_url": response_url,
        "message": message,
        "actions": [action],
        **extra,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def post(api: RunningApi, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with api.client() as client:
        return await client.post(path, content=body, headers=headers)


async def incident(engine: AsyncEngine, incident_id: int) -> IncidentRow:
    async with transaction(engine) as session:
        row = await session.get(IncidentRow, incident_id)
        assert row is not None
        return row


def updates(slack: FakeHttp, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in slack.delivered() if r.path == path]


async def updated(slack: FakeHttp, path: str) -> dict[str, Any]:
    """Wait for the one message update Slack received at `path`."""

    async def probe() -> list[dict[str, Any]]:
        return updates(slack, path)

    found = await wait_for(probe, lambda found: len(found) >= 1, timeout_s=10)
    assert len(found) == 1, found
    return found[0]


def status_lines(message: dict[str, Any]) -> list[str]:
    """Who did what, as the updated message shows it (time cut off)."""
    return [
        e["text"].split(" at ")[0]
        for b in message["blocks"]
        if b.get("block_id") == "cw_status"
        for e in b["elements"]
    ]


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in message["blocks"]
        if b.get("block_id") == "cw_actions"
        for e in b["elements"]
    ]


async def paged(
    api: RunningApi, engine: AsyncEngine, slack: FakeHttp, brand: str
) -> tuple[int, dict[str, Any]]:
    """Open a SEV2 incident the way the worker does and return it with its Slack page."""
    settings = notify_settings(slack_webhook_url=slack.url, api_base_url=api.base_url)
    incident_id = await open_incident(engine, settings, brand=brand, severity="SEV2")
    async with dispatching(engine, settings):
        await all_sent(engine, incident_id, 1)
    [page] = [r.json() for r in slack.delivered() if f"#{incident_id} " in r.body.decode()]
    return incident_id, page


async def test_page_to_resolution_from_slack(
    api: RunningApi, db_engine: AsyncEngine, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id, page = await paged(api, db_engine, slack_webhook, f"slack-{unique}")
    assert action_ids(page) == [
        "cw_ack",
        "cw_take",
        "cw_snooze_60",
        "cw_snooze_240",
        "cw_escalate",
        "cw_resolve",
        "cw_dismiss",
        "cw_room",
    ]
    actions = next(b for b in page["blocks"] if b.get("block_id") == "cw_actions")
    assert actions["elements"][-1]["url"].startswith(f"{api.base_url}/")

    path = f"/actions/T0/{incident_id}/ack"
    body = click("cw_ack", str(incident_id), page, slack_webhook.url + path)
    headers = signed(body)
    answer = await post(api, "/v1/slack/actions", body, headers)
    assert answer.status_code == 200, answer.text
    assert (await incident(db_engine, incident_id)).status == "acknowledged"
    update = await updated(slack_webhook, path)
    assert update["replace_original"] is True
    assert status_lines(update) == ["<@U0MARIA> acknowledged"]
    fields = next(b for b in update["blocks"] if "fields" in b)["fields"]
    assert {"type": "mrkdwn", "text": "*Status*\nacknowledged"} in fields
    assert "cw_ack" not in action_ids(update) and "cw_resolve" in action_ids(update)
    async with transaction(db_engine) as session:
        audit = (
            await session.scalars(
                select(AuditLogRow).where(AuditLogRow.target == f"incident:{incident_id}")
            )
        ).all()
        timeline = (
            await session.scalars(
                select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
            )
        ).all()
    assert [(a.actor, a.action) for a in audit] == [("slack:U0MARIA:maria", "incident.acknowledge")]
    assert ("acknowledge", "slack:U0MARIA:maria") in [(e.kind, e.actor) for e in timeline]

    # The very same request again (a replay inside the 5-minute window) is refused.
    replay = await post(api, "/v1/slack/actions", body, headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]

    # Take it, escalate, resolve: each through the lifecycle, each updating the message.
    message = update
    for action_id, check in (
        ("cw_take", lambda r: r.owner == "slack:U0MARIA:maria"),
        ("cw_escalate", lambda r: r.severity == "SEV1"),
        ("cw_resolve", lambda r: r.status == "resolved"),
    ):
        path = f"/actions/T0/{incident_id}/{action_id}"
        body = click(action_id, str(incident_id), message, slack_webhook.url + path)
        answer = await post(api, "/v1/slack/actions", body, signed(body))
        assert answer.status_code == 200, answer.text
        message = await updated(slack_webhook, path)
        assert check(await incident(db_engine, incident_id)), action_id
    assert status_lines(message) == [
        "<@U0MARIA> acknowledged",
        "<@U0MARIA> took it (owner)",
        "<@U0MARIA> escalated it to SEV1",
        "<@U0MARIA> resolved",
    ]
    assert {"type": "mrkdwn", "text": "*Severity*\nSEV1"} in next(
        b for b in message["blocks"] if "fields" in b
    )["fields"]
    assert action_ids(message) == ["cw_room"]

    # Too late to acknowledge: the lifecycle refuses, only the clicking user is told.
    path = f"/actions/T0/{incident_id}/late"
    body = click("cw_ack", str(incident_id), message, slack_webhook.url + path)
    assert (await post(api, "/v1/slack/actions", body, signed(body))).status_code == 200
    late = await updated(slack_webhook, path)
    assert late["response_type"] == "ephemeral" and late["replace_original"] is False
    assert "cannot acknowledge" in late["text"]


async def test_dismiss_and_snooze_from_slack(
    api: RunningApi, db_engine: AsyncEngine, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id, page = await paged(api, db_engine, slack_webhook, f"dismiss-{unique}")
    path = f"/actions/T0/{incident_id}/snooze"
    body = click("cw_snooze_240", str(incident_id), page, slack_webhook.url + path)
    assert (await post(api, "/v1/slack/actions", body, signed(body))).status_code == 200
    row = await incident(db_engine, incident_id)
    assert row.status == "snoozed" and row.snoozed_until is not None
    assert 3.9 * 3600 < (row.snoozed_until - row.updated_at).total_seconds() <= 4 * 3600 + 5
    message = await updated(slack_webhook, path)

    path = f"/actions/T0/{incident_id}/dismiss"
    body = click("cw_dismiss", f"{incident_id}|campaign", message, slack_webhook.url + path)
    assert (await post(api, "/v1/slack/actions", body, signed(body))).status_code == 200
    row = await incident(db_engine, incident_id)
    assert row.status == "resolved" and row.dismissal_reason == "planned campaign or event"
    assert status_lines(await updated(slack_webhook, path))[-1] == (
        "<@U0MARIA> dismissed it as a false positive (planned campaign or event)"
    )

    # An unknown reason code is bad input (4xx), not a 500, and changes nothing.
    body = click("cw_dismiss", f"{incident_id}|whatever", message, slack_webhook.url + path)
    assert (await post(api, "/v1/slack/actions", body, signed(body))).status_code == 422


async def test_forged_stale_and_unsigned_requests_are_refused(
    api: RunningApi, db_engine: AsyncEngine, slack_webhook: FakeHttp, make_incident: Any
) -> None:
    incident_id = await make_incident("SEV2")
    body = click("cw_ack", str(incident_id), {}, slack_webhook.url + "/actions/x")
    refused = {
        "forged": signed(body, secret="not-the-secret"),
        "stale": signed(body, at=time.time() - 360),
        "future": signed(body, at=time.time() + 360),
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
        "tampered": signed(body.replace(b"cw_ack", b"cw_res")),
    }
    for name, headers in refused.items():
        answer = await post(api, "/v1/slack/actions", body, headers)
        assert answer.status_code == 401, name
        command = await post(api, "/v1/slack/commands", b"text=x", headers)
        assert command.status_code == 401, name
    assert (await incident(db_engine, incident_id)).status == "open"
    assert slack_webhook.received == []

    # A signed request whose response_url points elsewhere is acted on, but no one is called.
    body = click("cw_ack", str(incident_id), {}, "https://attacker.example/hook")
    assert (await post(api, "/v1/slack/actions", body, signed(body))).status_code == 200
    assert (await incident(db_engine, incident_id)).status == "acknowledged"
    # Not a form with a payload: 4xx.
    junk = b"payload=%7Bnot-json"
    assert (await post(api, "/v1/slack/actions", junk, signed(junk))).status_code == 422


async def test_slash_command_lists_open_incidents_and_sentiment(
    api: RunningApi, db_engine: AsyncEngine, make_incident: Any, unique: str
) -> None:
    brand = f"cmd-{unique}"
    first = await make_incident("SEV1", brand=brand, title="Battery fires")
    await make_incident("SEV3", brand=f"{brand}-other")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with transaction(db_engine) as session:
        session.add(
            HourlyRollupRow(
                brand=brand,
                hour=now - timedelta(hours=1),
                topic="",
                platform="*",
                language="*",
                volume=10,
                negative=6,
                neutral=2,
                positive=2,
                sentiment_sum=-3.0,
            )
        )
        session.add(
            HourlyRollupRow(
                brand=brand,
                hour=now - timedelta(hours=30),
                topic="",
                platform="*",
                language="*",
                volume=99,
                negative=99,
                sentiment_sum=-99.0,
            )
        )
    body = urlencode(
        {"command": "/crisiswatch", "text": brand, "user_id": "U0MARIA", "user_name": "maria"}
    ).encode()
    answer = await post(api, "/v1/slack/commands", body, signed(body))
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["response_type"] == "ephemeral"
    text = "\n".join(b["text"]["text"] for b in reply["blocks"])
    assert "10 mentions, 60% negative" in text and "mean sentiment -0.30" in text
    assert f"#{first} [SEV1] Battery fires" in text and "Open incidents (1)" in text
    usage = urlencode({"command": "/crisiswatch", "text": ""}).encode()
    assert "Usage" in (await post(api, "/v1/slack/commands", usage, signed(usage))).json()["text"]
