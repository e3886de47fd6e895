"""The incident room in a real headless Chromium: it renders, the chart is drawn, a Slack
click shows up in it, a viewer cannot act, a responder ticks a playbook step and resolves.
Screenshots are saved to `tmp_path`, and to `CRISISWATCH_SCREENSHOT_DIR` when set (how
docs/screenshots got its pictures)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.slack.signature import sign
from shared.db.engine import transaction
from shared.db.models import IncidentRow
from tests.browser import CHROMIUM, Page, chromium
from tests.integration.api.conftest import RunningApi
from tests.integration.api.room_helpers import opened
from tests.notify_fakes import FakeHttp

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
SLACK_SECRET = "browser-test-slack-secret"


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {
        "slack_signing_secret": SLACK_SECRET,
        "slack_response_hosts": ["127.0.0.1"],
        "slack_response_allow_http": True,
    }


async def slack_click(api: RunningApi, incident_id: int, response_url: str) -> None:
    """A signed "Acknowledge" click, as Slack sends it."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0MARIA", "username": "maria"},
        "response_url": response_url,
        "message": {},
        "actions": [{"action_id": "cw_ack", "value": str(incident_id)}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SLACK_SECRET.encode(), ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    async with api.client() as client:
        answer = await client.post("/v1/slack/actions", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def save(page: Page, tmp_path: Path, name: str) -> None:
    await page.screenshot(tmp_path / name)
    target = os.environ.get("CRISISWATCH_SCREENSHOT_DIR")
    if target:
        await page.screenshot(Path(target) / name)


async def test_room_in_chromium(
    api: RunningApi,
    db_engine: AsyncEngine,
    slack_webhook: FakeHttp,
    unique: str,
    tmp_path: Path,
) -> None:
    incident_id, link = await opened(api, db_engine, slack_webhook, f"Acme-{unique}")
    async with chromium() as browser:
        viewer = await browser.new_page()
        await viewer.goto(link)  # the link of the Slack page, as printed
        assert await viewer.evaluate("location.pathname") == f"/incidents/{incident_id}"
        assert await viewer.evaluate("location.search") == ""  # the token left the URL
        assert "battery fires reported" in await viewer.evaluate("document.title")
        # The chart is drawn: bars laid out with a real size, the baseline line present.
        bars = await viewer.evaluate(
            "Array.from(document.querySelectorAll('svg.chart rect.vol'))"
            ".filter(r => r.getBoundingClientRect().height > 0).length"
        )
        assert bars >= 10
        assert await viewer.evaluate("!!document.querySelector('svg.chart line.baseline')")
        assert (
            await viewer.evaluate(
                "document.querySelector('svg.chart').getBoundingClientRect().width"
            )
            > 300
        )
        assert not await viewer.evaluate("!!document.querySelector('button[value=resolve]')")
        assert not await viewer.evaluate("!!document.querySelector('#steps ~ table form')")
        await save(viewer, tmp_path, "incident-room-viewer.png")

        # Acknowledged from Slack: the room shows the same state and who did it.
        await slack_click(api, incident_id, f"{slack_webhook.url}/actions/T0/1/x")
        await viewer.goto(f"{api.base_url}/incidents/{incident_id}")
        assert await viewer.evaluate("document.getElementById('status').textContent") == (
            "acknowledged"
        )
        assert "slack:U0MARIA:maria" in await viewer.evaluate("document.body.innerText")

        responder = await browser.new_page()
        await responder.goto(f"{api.base_url}/incidents/login?next=/incidents/{incident_id}")
        await responder.evaluate(
            f"document.getElementById('api_key').value = {api.keys['responder']!r}"
        )
        await responder.click_and_wait("form[action='/incidents/login'] button[type=submit]")
        assert await responder.evaluate("location.pathname") == f"/incidents/{incident_id}"
        await save(responder, tmp_path, "incident-room-responder.png")
        await responder.click_and_wait("#steps + table button[type=submit]")
        first_step = await responder.evaluate(
            "document.querySelector('#steps + table tbody tr td:nth-child(5)').textContent"
        )
        assert first_step == "done"
        await responder.click_and_wait("button[value=resolve]")
        assert await responder.evaluate("document.getElementById('status').textContent") == (
            "resolved"
        )
        phone = await browser.new_page(width=390, height=844)
        await phone.goto(f"{api.base_url}/incidents/login")
        await phone.evaluate(f"document.getElementById('api_key').value = {api.keys['viewer']!r}")
        await phone.click_and_wait("form[action='/incidents/login'] button[type=submit]")
        await phone.goto(f"{api.base_url}/incidents/{incident_id}")
        # Readable on a phone: nothing wider than the screen.
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
        await save(phone, tmp_path, "incident-room-phone.png")
    async with transaction(db_engine) as session:
        row = await session.get(IncidentRow, incident_id)
        assert row is not None and row.status == "resolved"
