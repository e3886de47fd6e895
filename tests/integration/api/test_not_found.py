"""Every alerting route that addresses a row by id answers 404 for an id no row has.

The table must list exactly the alerting routes with an id in their path, so a new one
without an entry fails `test_table_covers_every_route_with_an_id`.
"""

from __future__ import annotations

import re
from typing import Any

from services.api.app import create_app
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tests.integration.api.conftest import RunningApi

ALERTING_TAGS = {"incidents", "playbooks", "rules", "campaigns"}
MISSING = 2**62  # the largest id the routes accept; no test creates that many rows

RULE = {"name": "missing", "definition": {"metric": "negative", "threshold": 1}}
CAMPAIGN = {
    "brand": "acme",
    "name": "launch",
    "starts_at": "2026-12-01T00:00:00Z",
    "ends_at": "2026-12-03T00:00:00Z",
}

# (method, path) -> a valid body (None: no body), so only the missing row can fail the call.
BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("GET", "/v1/incidents/{incident_id}"): None,
    ("POST", "/v1/incidents/{incident_id}/acknowledge"): None,
    ("POST", "/v1/incidents/{incident_id}/assign"): {"owner": "maria"},
    ("POST", "/v1/incidents/{incident_id}/escalate"): None,
    ("POST", "/v1/incidents/{incident_id}/notes"): {"text": "statement drafted"},
    ("POST", "/v1/incidents/{incident_id}/snooze"): {"minutes": 30},
    ("POST", "/v1/incidents/{incident_id}/resolve"): {"resolution": "ok"},
    ("POST", "/v1/incidents/{incident_id}/dismiss"): {"reason": "not about us"},
    ("GET", "/v1/incidents/{incident_id}/holding-statements"): None,
    ("GET", "/v1/playbooks/{name}"): None,
    ("DELETE", "/v1/playbooks/{name}"): None,
    ("PUT", "/v1/incidents/{incident_id}/review"): {"summary": "faulty batch"},
    ("GET", "/v1/playbook-runs/{run_id}"): None,
    ("PATCH", "/v1/playbook-steps/{step_id}"): {"status": "done"},
    ("GET", "/v1/rules/{rule_id}"): None,
    ("PUT", "/v1/rules/{rule_id}"): RULE,
    ("POST", "/v1/rules/{rule_id}/validate"): None,
    ("DELETE", "/v1/rules/{rule_id}"): None,
    ("GET", "/v1/campaigns/{campaign_id}"): None,
    ("PUT", "/v1/campaigns/{campaign_id}"): CAMPAIGN,
    ("DELETE", "/v1/campaigns/{campaign_id}"): None,
}

# Create-or-replace routes: a name no row has is created (201), never a 404.
UPSERTS = {("PUT", "/v1/playbooks/{name}")}


def _routes_with_an_id() -> set[tuple[str, str]]:
    paths = create_app(ApiSettings(), IngestSettings()).openapi()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if "{" in path
        for method, operation in operations.items()
        if set(operation["tags"]) & ALERTING_TAGS
    } - UPSERTS


def test_table_covers_every_route_with_an_id() -> None:
    assert set(BODIES) == _routes_with_an_id()


async def test_missing_ids_are_404(api: RunningApi) -> None:
    async with api.client("admin") as client:
        for (method, template), body in BODIES.items():
            path = re.sub(r"\{\w+\}", str(MISSING), template)
            response = await client.request(method, path, json=body)
            assert response.status_code == 404, (method, template, response.text)
            assert "does not exist" in response.json()["detail"], (method, template)
