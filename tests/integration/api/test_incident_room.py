"""The incident room over real HTTP: sign-in by link or API key, roles, forms, the overview.

The incident is opened the way the worker opens it (playbook + Slack page to the local
stand-in); its mentions are stored by the sentiment store, so the chart and the samples
come from real rollups and rows.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.room.tokens import link_token
from shared.db.config_models import AuditLogRow
from shared.db.engine import transaction
from shared.db.models import IncidentRow, PlaybookRunRow, PlaybookStepRow
from shared.settings.links import DEV_ROOM_SECRET
from tests.integration.api.conftest import RunningApi
from tests.integration.api.room_helpers import opened
from tests.notify_fakes import FakeHttp

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def browser(api: RunningApi) -> httpx.AsyncClient:
    """A client that keeps cookies like a browser and does not follow redirects."""
    return httpx.AsyncClient(base_url=api.base_url, timeout=30)


async def status_of(engine: AsyncEngine, incident_id: int) -> IncidentRow:
    async with transaction(engine) as session:
        row = await session.get(IncidentRow, incident_id)
        assert row is not None
        return row


async def test_link_signs_in_a_viewer_who_reads_but_cannot_act(
    api: RunningApi, db_engine: AsyncEngine, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id, link = await opened(api, db_engine, slack_webhook, f"room-{unique}")
    assert link.startswith(f"{api.base_url}/incidents/{incident_id}?t=")
    async with browser(api) as web:
        anonymous = await web.get(f"/incidents/{incident_id}")
        assert anonymous.status_code == 401 and 'name="api_key"' in anonymous.text
        signed_in = await web.get(link.removeprefix(api.base_url))
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == f"/incidents/{incident_id}"  # token dropped
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/incidents" in cookie
        room = await web.get(f"/incidents/{incident_id}")
        assert room.status_code == 200, room.text
        html = room.text
        assert "battery fires reported" in html and ">SEV2<" in html
        assert "<svg" in html and '<rect class="neg"' in html and 'class="baseline"' in html
        assert "<h3>en</h3>" in html and "<h3>de</h3>" in html and "Akku brennt" in html
        assert 'id="statements"' in html and "data-copy=" in html
        assert 'id="steps"' in html and "<td>pending</td>" in html
        assert room.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in room.headers["content-security-policy"]
        assert 'value="acknowledge"' not in html  # a viewer sees no lifecycle forms
        token = FORM_TOKEN.search(html)
        assert token is None
        refused = await web.post(
            f"/incidents/{incident_id}/act",
            data={"action": "acknowledge", "form_token": "x"},
        )
        assert refused.status_code == 403
        # A link opens its own incident only, not the overview nor another incident.
        assert (await web.get("/incidents")).status_code == 401
        assert (await web.get(f"/incidents/{incident_id + 1}")).status_code == 401
    assert (await status_of(db_engine, incident_id)).status == "open"


async def test_responder_acts_ticks_a_step_and_resolves(
    api: RunningApi, db_engine: AsyncEngine, slack_webhook: FakeHttp, unique: str
) -> None:
    incident_id, _ = await opened(api, db_engine, slack_webhook, f"act-{unique}")
    async with browser(api) as web:
        wrong = await web.post("/incidents/login", data={"api_key": "cwk_000000000000_no"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        ingest = await web.post("/incidents/login", data={"api_key": api.keys["ingest"]})
        assert ingest.status_code == 401
        login = await web.post(
            "/incidents/login",
            data={"api_key": api.keys["responder"], "next": f"/incidents/{incident_id}"},
        )
        assert login.status_code == 303 and login.headers["location"] == f"/incidents/{incident_id}"
        assert api.keys["responder"] not in login.headers["location"]
        overview = await web.get("/incidents")
        assert overview.status_code == 200 and f'href="/incidents/{incident_id}"' in overview.text
        assert f"act-{unique}" in overview.text
        html = (await web.get(f"/incidents/{incident_id}")).text
        match = FORM_TOKEN.search(html)
        assert match is not None
        form_token = match.group(1)

        forged = await web.post(
            f"/incidents/{incident_id}/act", data={"action": "acknowledge", "form_token": "bad"}
        )
        assert forged.status_code == 403
        done = await web.post(
            f"/incidents/{incident_id}/act",
            data={"action": "acknowledge", "form_token": form_token},
        )
        assert done.status_code == 303
        assert (await status_of(db_engine, incident_id)).status == "acknowledged"
        again = await web.post(
            f"/incidents/{incident_id}/act",
            data={"action": "acknowledge", "form_token": form_token},
        )
        assert again.status_code == 409 and "cannot acknowledge" in again.text

        async with transaction(db_engine) as session:
            step_id = await session.scalar(
                select(PlaybookStepRow.id)
                .join(PlaybookRunRow, PlaybookRunRow.id == PlaybookStepRow.run_id)
                .where(PlaybookRunRow.incident_id == incident_id)
                .order_by(PlaybookStepRow.position)
                .limit(1)
            )
        ticked = await web.post(
            f"/incidents/{incident_id}/steps/{step_id}", data={"form_token": form_token}
        )
        assert ticked.status_code == 303
        resolved = await web.post(
            f"/incidents/{incident_id}/act", data={"action": "resolve", "form_token": form_token}
        )
        assert resolved.status_code == 303
        html = (await web.get(f"/incidents/{incident_id}")).text
        assert '<strong id="status">resolved</strong>' in html and "<td>done</td>" in html

        await web.post("/incidents/logout")
        assert (await web.get(f"/incidents/{incident_id}")).status_code == 401
    async with transaction(db_engine) as session:
        actions = (
            await session.scalars(
                select(AuditLogRow.action).where(
                    AuditLogRow.actor.like("key:%:test-responder-%"),
                    AuditLogRow.target.in_([f"incident:{incident_id}", f"step:{step_id}"]),
                )
            )
        ).all()
    assert sorted(actions) == ["incident.acknowledge", "incident.resolve", "playbook.step"]


async def test_expired_forged_and_revoked_sign_ins_are_refused(
    api: RunningApi, make_incident: Any
) -> None:
    incident_id = await make_incident("SEV3")
    secret = DEV_ROOM_SECRET.encode()
    stale = link_token(
        secret, incident_id=incident_id, role="viewer", ttl_s=60, now=time.time() - 120
    )
    forged = link_token(
        b"not-the-secret", incident_id=incident_id, role="responder", ttl_s=60, now=time.time()
    )
    other = link_token(
        secret, incident_id=incident_id + 1, role="viewer", ttl_s=60, now=time.time()
    )
    async with browser(api) as web:
        for token in (stale, forged, other, "junk"):
            answer = await web.get(f"/incidents/{incident_id}", params={"t": token})
            assert answer.status_code == 401 and "set-cookie" not in answer.headers
        web.cookies.set("cw_room", "eyJrIjoic2Vzc2lvbiJ9.forged", path="/incidents")
        assert (await web.get("/incidents")).status_code == 401

    async with api.client("admin") as admin:
        created = (await admin.post("/v1/keys", json={"name": "temp", "role": "viewer"})).json()
        async with browser(api) as web:
            login = await web.post("/incidents/login", data={"api_key": created["secret"]})
            assert login.status_code == 303
            assert (await web.get("/incidents")).status_code == 200
            await admin.delete(f"/v1/keys/{created['id']}")
            assert (await web.get("/incidents")).status_code == 401  # revocation ends it
