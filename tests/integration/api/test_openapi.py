"""The OpenAPI document: stable readable operation ids, the typed push body and answer, one
error model on every route, and real answers that conform to what the document says."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis

from services.api.app import create_app
from services.ingest.service import create_ingest_app
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tests.integration.api.conftest import RunningApi

# The contract: a changed id breaks generated clients, so a change must show up here.
OPERATION_IDS = {
    "healthz", "readyz", "metrics", "push_mentions", "search_mentions", "get_trends",
    "get_share_of_voice", "get_rising_terms", "list_incidents", "get_incident",
    "acknowledge_incident", "assign_incident", "add_incident_note", "snooze_incident",
    "resolve_incident", "review_incident", "dismiss_incident",
    "get_incident_holding_statements", "list_playbooks", "get_playbook", "put_playbook",
    "delete_playbook", "list_playbook_runs",
    "get_playbook_run", "update_playbook_step", "list_rules", "create_rule", "validate_rule",
    "get_rule", "update_rule", "delete_rule", "validate_stored_rule", "list_campaigns",
    "create_campaign", "get_campaign", "update_campaign", "delete_campaign",
    "list_watchlists", "validate_watchlist", "get_watchlist", "put_watchlist",
    "delete_watchlist", "list_api_keys", "create_api_key", "revoke_api_key", "erase_author",
    "purge_expired", "list_audit_log", "escalate_incident", "slack_actions", "slack_commands",
    "list_brand_settings", "get_brand_settings", "put_brand_settings",
    "delete_brand_settings", "list_brand_proposals", "apply_brand_proposal",
}  # fmt: skip
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(ApiSettings(), IngestSettings()).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    ]


def test_operation_ids_are_readable_unique_and_stable(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))
    assert set(ids) == OPERATION_IDS
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", i) for i in ids)


def test_every_tag_is_described(document: dict[str, Any]) -> None:
    described = {tag["name"] for tag in document["tags"] if tag.get("description")}
    used = {tag for _, _, op in _operations(document) for tag in op.get("tags", [])}
    assert used <= described


def test_errors_are_documented_with_one_model(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, op in _operations(document):
        responses = op["responses"]
        expected = set()
        if op.get("security"):
            expected |= {"401", "403", "429"}
        if "{" in path:
            expected.add("404")
        if path.startswith("/v1/"):
            expected |= {"422", "503"}
        assert expected <= set(responses), (method, path, expected - set(responses))
        for code in expected - {"422"}:
            assert "content" in responses[code], (method, path, code, responses[code])
            schema = responses[code]["content"]["application/problem+json"]["schema"]
            assert schema == PROBLEM, (method, path, code)
        if "429" in expected:
            assert "Retry-After" in responses["429"]["headers"]
    # Every /v1 route takes a key, but Slack's, which carry Slack's signature instead.
    keyless = {p for _, p, op in _operations(document) if not op.get("security")}
    assert {p for p in keyless if p.startswith("/v1/")} == {
        "/v1/slack/actions",
        "/v1/slack/commands",
    }


@pytest.mark.parametrize("app", ["api", "ingest"])
def test_the_documents_are_valid_openapi(app: str) -> None:
    from openapi_spec_validator import validate

    built = (
        create_app(ApiSettings(), IngestSettings())
        if app == "api"
        else create_ingest_app(IngestSettings())
    )
    validate(built.openapi())


@pytest.mark.parametrize("app", ["api", "ingest"])
def test_push_declares_its_typed_body_and_answer(app: str) -> None:
    built = (
        create_app(ApiSettings(), IngestSettings())
        if app == "api"
        else create_ingest_app(IngestSettings())
    )
    document = built.openapi()
    push = document["paths"]["/v1/mentions"]["post"]
    body = push["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert body["type"] == "array"
    assert body["items"] == {"$ref": "#/components/schemas/MentionIn"}
    mention = document["components"]["schemas"]["MentionIn"]
    assert {"platform", "external_id", "author", "text", "created_at"} <= set(mention["required"])
    accepted = push["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted == {"$ref": "#/components/schemas/PushResult"}
    item = document["components"]["schemas"]["PushItem"]
    assert set(item["properties"]["status"]["enum"]) == {
        "accepted", "duplicate", "unmatched", "invalid",
    }  # fmt: skip
    partly = push["responses"]["207"]["content"]["application/json"]["schema"]
    assert partly == {"$ref": "#/components/schemas/PushResult"}
    assert "207 Multi-Status: partly accepted" in push["description"]


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    """A rate small enough to reach 429 in a few requests."""
    return {"api_rate_burst": 3, "api_rate_per_s": 0.01}


async def test_real_answers_conform_to_the_document(api: RunningApi) -> None:
    async with api.client() as client:
        schema = schemathesis.openapi.from_dict((await client.get("/openapi.json")).json())

    def operation(method: str, path: str) -> Any:
        return schema[path][method]

    good = [
        {
            "platform": "x",
            "external_id": "openapi-1",
            "author": "u",
            "text": "hello acme",
            "created_at": "2026-11-25T09:30:00Z",
            "brands": ["acme"],
        }
    ]
    partly = [*good, {"platform": "x"}]
    answers: list[tuple[str, str, int, Any]] = []
    async with api.client() as anonymous:
        answers.append(("GET", "/v1/incidents", 401, await anonymous.get("/v1/incidents")))
    async with api.client("viewer") as viewer:
        answers.append(("GET", "/v1/incidents", 403, await viewer.get("/v1/incidents")))
    async with api.client("responder") as responder:
        answers.append(
            (
                "GET",
                "/v1/incidents/{incident_id}",
                404,
                await responder.get("/v1/incidents/987654321"),
            )
        )
        answers.append(("GET", "/v1/incidents", 422, await responder.get("/v1/incidents?limit=-1")))
        for _ in range(5):
            last = await responder.get("/v1/incidents")
        answers.append(("GET", "/v1/incidents", 429, last))
    async with api.client("ingest") as pusher:
        mixed = await pusher.post("/v1/mentions", json=partly)
        answers.append(("POST", "/v1/mentions", 207, mixed))
        answers.append(("POST", "/v1/mentions", 422, await pusher.post("/v1/mentions", json={})))
    for method, path, status, response in answers:
        assert response.status_code == status, (method, path, response.text)
        operation(method, path).validate_response(response)
        if status >= 400:
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == status and problem["detail"], problem
            assert problem["request_id"] == response.headers["X-Request-ID"]
    assert [i["status"] for i in mixed.json()["items"]] == ["accepted", "invalid"]


async def test_a_refused_request_says_when_to_come_back(api: RunningApi) -> None:
    async with api.client("viewer") as client:
        answers = [await client.get("/v1/mentions", params={"brand": "acme"}) for _ in range(5)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    headers = refused[0].headers
    assert int(headers["Retry-After"]) >= 1
    assert headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Limit"] == "3"
