"""Request ids, request logs and HTTP metrics of the API, through a real served app."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.logging import JsonFormatter, RequestIdFilter
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import read_topic


@pytest.fixture
def request_log() -> Iterator[io.StringIO]:
    """The JSON lines of the `crisiswatch.http` logger during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("crisiswatch.http")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_request_id_echoed_logged_and_metrics_by_route_template(
    api: RunningApi, request_log: io.StringIO
) -> None:
    async with api.client("responder") as client:
        missing = await client.get("/v1/incidents/999999999", headers={"X-Request-ID": "trace-7"})
        fresh = await client.get("/v1/incidents/999999998")
        hostile = await client.get("/v1/incidents/999999997", headers={"X-Request-ID": "a b"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "trace-7"
    assert len(fresh.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "a b"

    lines = [json.loads(line) for line in request_log.getvalue().splitlines()]
    traced = [entry for entry in lines if entry.get("request_id") == "trace-7"]
    assert len(traced) == 1
    assert traced[0]["route"] == "/v1/incidents/{incident_id}"
    assert traced[0]["status"] == 404
    assert traced[0]["duration_ms"] >= 0
    assert traced[0]["ts"][:4].isdigit() and traced[0]["ts"].endswith("Z")

    async with api.client() as client:
        text = (await client.get("/metrics")).text
    counts = {
        (labels["route"], labels["status"]): value
        for labels, value in _samples(text, "crisiswatch_http_requests_total")
        if labels["method"] == "GET" and labels["service"] == "api"
    }
    # Two raw paths, one series: labelled by template, never by path.
    assert counts[("/v1/incidents/{incident_id}", "404")] == 3
    buckets = [
        labels
        for labels, _ in _samples(text, "crisiswatch_http_request_duration_seconds_bucket")
        if labels["route"] == "/v1/incidents/{incident_id}"
    ]
    assert buckets and {b["le"] for b in buckets} >= {"0.1", "+Inf"}
    assert not any(
        "999999999" in labels["route"]
        for labels, _ in _samples(text, "crisiswatch_http_requests_total")
    )


async def test_unrouted_paths_share_one_label(api: RunningApi) -> None:
    async with api.client() as client:
        for n in range(3):
            assert (await client.get(f"/no/such/path/{n}")).status_code == 404
        text = (await client.get("/metrics")).text
    unmatched = [
        value
        for labels, value in _samples(text, "crisiswatch_http_requests_total")
        if labels["route"] == "unmatched"
    ]
    assert unmatched == [3.0]


async def test_pushed_mentions_carry_the_request_id_to_kafka(api: RunningApi) -> None:
    item = [
        {
            "platform": "x",
            "external_id": "obs-1",
            "author": "u",
            "text": "hello acme",
            "created_at": "2026-11-25T09:30:00Z",
            "brands": ["acme"],
        }
    ]
    async with api.client("ingest") as client:
        resp = await client.post("/v1/mentions", json=item, headers={"X-Request-ID": "push-1"})
    assert resp.status_code == 202, resp.text
    records = await read_topic(api.ingest.bootstrap_servers, api.ingest.topic_raw, expected=1)
    assert len(records) == 1
    assert dict(records[0].headers)["request_id"] == b"push-1"


async def test_answers_carry_the_key_s_quota_in_ratelimit_headers(api: RunningApi) -> None:
    limit = api.settings.api_rate_burst
    async with api.client("responder") as client:
        first = await client.get("/v1/incidents")
        second = await client.get("/v1/incidents/999999996")  # an error answer carries it too
    assert first.status_code == 200 and second.status_code == 404
    assert first.headers["RateLimit-Limit"] == str(limit)
    for answer in (first, second):
        assert 0 <= int(answer.headers["RateLimit-Remaining"]) < limit  # this request counted
    assert int(first.headers["RateLimit-Reset"]) >= 0
    assert first.headers["RateLimit-Policy"].startswith(f"{limit};w=")
    async with api.client() as anonymous:
        assert "RateLimit-Limit" not in (await anonymous.get("/healthz")).headers
