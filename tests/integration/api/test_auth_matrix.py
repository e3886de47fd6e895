"""Every /v1 endpoint with every role: 401 without a valid key, 403 below its role.

The table below must list exactly the app's routes, so a new endpoint without an entry
fails `test_table_covers_every_route`.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from services.api.app import create_app
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tests.integration.api.conftest import RunningApi

RANK = {"ingest": 0, "viewer": 1, "responder": 2, "admin": 3}

# (method, path) -> minimum role; None = public.
REQUIRED: dict[tuple[str, str], str | None] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
    ("POST", "/v1/mentions"): None,  # the tests open it; see test_push_requires_key_when_enabled
    # Slack's signature, not a key (tests/integration/api/test_slack_actions.py).
    ("POST", "/v1/slack/actions"): None,
    ("POST", "/v1/slack/commands"): None,
    # Browser pages: a session cookie from a link or an API key, never a key header
    # (tests/integration/api/test_incident_room.py checks who may see and act).
    ("GET", "/incidents"): None,
    ("GET", "/incidents/login"): None,
    ("POST", "/incidents/login"): None,
    ("POST", "/incidents/logout"): None,
    ("GET", "/incidents/{incident_id}"): None,
    ("POST", "/incidents/{incident_id}/act"): None,
    ("POST", "/incidents/{incident_id}/steps/{step_id}"): None,
    ("GET", "/v1/trends"): "viewer",
    ("GET", "/v1/share-of-voice"): "viewer",
    ("GET", "/v1/rising-terms"): "viewer",
    ("GET", "/v1/mentions"): "viewer",
    ("GET", "/v1/incidents"): "responder",
    ("GET", "/v1/incidents/{incident_id}"): "responder",
    ("POST", "/v1/incidents/{incident_id}/acknowledge"): "responder",
    ("POST", "/v1/incidents/{incident_id}/assign"): "responder",
    ("POST", "/v1/incidents/{incident_id}/escalate"): "responder",
    ("POST", "/v1/incidents/{incident_id}/notes"): "responder",
    ("POST", "/v1/incidents/{incident_id}/snooze"): "responder",
    ("POST", "/v1/incidents/{incident_id}/resolve"): "responder",
    ("POST", "/v1/incidents/{incident_id}/dismiss"): "responder",
    ("GET", "/v1/incidents/{incident_id}/holding-statements"): "responder",
    ("PUT", "/v1/incidents/{incident_id}/review"): "responder",
    ("GET", "/v1/playbooks"): "responder",
    ("GET", "/v1/playbooks/{name}"): "responder",
    ("PUT", "/v1/playbooks/{name}"): "admin",
    ("DELETE", "/v1/playbooks/{name}"): "admin",
    ("GET", "/v1/playbook-runs"): "responder",
    ("GET", "/v1/playbook-runs/{run_id}"): "responder",
    ("PATCH", "/v1/playbook-steps/{step_id}"): "responder",
    ("GET", "/v1/rules"): "admin",
    ("POST", "/v1/rules"): "admin",
    ("POST", "/v1/rules/validate"): "admin",
    ("GET", "/v1/rules/{rule_id}"): "admin",
    ("PUT", "/v1/rules/{rule_id}"): "admin",
    ("POST", "/v1/rules/{rule_id}/validate"): "admin",
    ("DELETE", "/v1/rules/{rule_id}"): "admin",
    ("GET", "/v1/campaigns"): "admin",
    ("POST", "/v1/campaigns"): "admin",
    ("GET", "/v1/campaigns/{campaign_id}"): "admin",
    ("PUT", "/v1/campaigns/{campaign_id}"): "admin",
    ("DELETE", "/v1/campaigns/{campaign_id}"): "admin",
    ("GET", "/v1/watchlists"): "admin",
    ("POST", "/v1/watchlists/validate"): "admin",
    ("GET", "/v1/watchlists/{brand}"): "admin",
    ("PUT", "/v1/watchlists/{brand}"): "admin",
    ("DELETE", "/v1/watchlists/{brand}"): "admin",
    ("GET", "/v1/brands/settings"): "admin",
    ("GET", "/v1/brands/{brand}/settings"): "admin",
    ("PUT", "/v1/brands/{brand}/settings"): "admin",
    ("DELETE", "/v1/brands/{brand}/settings"): "admin",
    ("GET", "/v1/brands/{brand}/proposals"): "responder",
    ("POST", "/v1/brands/{brand}/proposals/apply"): "admin",
    ("GET", "/v1/keys"): "admin",
    ("POST", "/v1/keys"): "admin",
    ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("POST", "/v1/privacy/erasure"): "admin",
    ("POST", "/v1/privacy/purge"): "admin",
    ("GET", "/v1/audit-log"): "admin",
}


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every API route of the real app."""
    app = create_app(ApiSettings(), IngestSettings())
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        # FastAPI >= 0.16x keeps included routers nested; older versions flatten APIRoutes.
        contexts = (
            [route]
            if isinstance(route, APIRoute)
            else list(getattr(route, "effective_route_contexts", list)())
        )
        for ctx in contexts:
            for method in ctx.methods or ():
                if method != "HEAD":
                    out.add((method, ctx.path))
    return out


def test_table_covers_every_route() -> None:
    assert app_routes() == set(REQUIRED)


def _concrete(path: str) -> str:
    path = path.replace("{brand}", "no-such-brand")
    return re.sub(r"\{[a-z_]+\}", "999999", path)


PROTECTED = sorted((k, v) for k, v in REQUIRED.items() if v is not None)


async def test_every_protected_endpoint_by_role(api: RunningApi) -> None:
    failures: list[str] = []
    for (method, path), minimum in PROTECTED:
        url = _concrete(path)
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        async with api.client() as anonymous:
            resp = await anonymous.request(method, url, json=body)
            if resp.status_code != 401:
                failures.append(f"{method} {path} without key: {resp.status_code}")
            resp = await anonymous.request(
                method, url, json=body, headers={"X-API-Key": "cwk_000000000000_wrong"}
            )
            if resp.status_code != 401:
                failures.append(f"{method} {path} bad key: {resp.status_code}")
        for role in RANK:
            async with api.client(role) as client:
                resp = await client.request(method, url, json=body)
            allowed = RANK[role] >= RANK[minimum]
            if allowed and resp.status_code in (401, 403):
                failures.append(f"{method} {path} as {role}: {resp.status_code}, expected access")
            if not allowed and resp.status_code != 403:
                failures.append(f"{method} {path} as {role}: {resp.status_code}, expected 403")
            if resp.status_code >= 500:
                failures.append(f"{method} {path} as {role}: server error {resp.status_code}")
    assert not failures, "\n".join(failures)


async def test_public_endpoints_need_no_key(api: RunningApi) -> None:
    async with api.client() as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/readyz")).status_code in (200, 503)


async def test_bearer_header_is_accepted(api: RunningApi) -> None:
    async with api.client() as client:
        resp = await client.get(
            "/v1/playbooks", headers={"Authorization": f"Bearer {api.keys['responder']}"}
        )
    assert resp.status_code == 200


async def test_revoked_key_is_refused(api: RunningApi) -> None:
    async with api.client("admin") as admin:
        created = await admin.post("/v1/keys", json={"name": "temp", "role": "viewer"})
        assert created.status_code == 201
        key = created.json()
        assert key["secret"].startswith("cwk_")
        listed = (await admin.get("/v1/keys")).json()
        assert all("secret" not in k and "key_hash" not in k for k in listed)
        async with api.client() as c:
            ok = await c.get("/v1/mentions", headers={"X-API-Key": key["secret"]})
            assert ok.status_code == 200
        assert (await admin.delete(f"/v1/keys/{key['id']}")).status_code == 200
        async with api.client() as c:
            refused = await c.get("/v1/mentions", headers={"X-API-Key": key["secret"]})
            assert refused.status_code == 401
        audit = (await admin.get("/v1/audit-log", params={"target": f"key:{key['id']}"})).json()
        assert {a["action"] for a in audit} == {"key.create", "key.revoke"}


@pytest.mark.parametrize("api_overrides", [{"ingest_require_auth": True}])
async def test_push_requires_key_when_enabled(api: RunningApi) -> None:
    item = [
        {
            "platform": "x",
            "external_id": "p1",
            "author": "u",
            "text": "hello acme",
            "created_at": "2026-11-25T09:30:00Z",
            "brands": ["acme"],
        }
    ]
    async with api.client() as anonymous:
        assert (await anonymous.post("/v1/mentions", json=item)).status_code == 401
    for role, expected in (("viewer", 403), ("responder", 403), ("ingest", 202), ("admin", 202)):
        async with api.client(role) as client:
            resp = await client.post("/v1/mentions", json=item)
            assert resp.status_code == expected, (role, resp.text)
