"""Mastodon (SSE + REST catch-up) and X filtered stream (rules + chunked NDJSON) connectors."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.ingest.sources.mastodon import MastodonSource
from services.ingest.sources.x_stream import XStreamSource
from shared.schemas import Mention
from tests.integration.ingest.conftest import ACME, local_server, running
from tests.integration.ingest.payloads import mastodon_status
from tests.kafka_helpers import read_topic


async def test_mastodon_sse_reconnect_and_catch_up(make_context: Any, topics: dict) -> None:
    connections = 0
    timeline_calls: list[str | None] = []

    async def stream(request: Request) -> Response:
        nonlocal connections
        connections += 1
        assert request.query_params["tag"] == "acme"
        first = connections == 1

        async def events() -> Any:
            if first:
                yield b": keep-alive\n\n"
                yield (
                    b"event: update\ndata: "
                    + orjson.dumps(mastodon_status(1, "Acme rocks"))
                    + b"\n\n"
                )
                yield b"event: update\ndata: {broken\n\n"
                yield b"event: delete\ndata: 999\n\n"
                return  # dropped connection
            edited = mastodon_status(1, "Acme rocks (edited)", edited_at="2026-11-25T10:01:00.000Z")
            yield b"event: status.update\ndata: " + orjson.dumps(edited) + b"\n\n"
            await asyncio.sleep(30)

        return StreamingResponse(events(), media_type="text/event-stream")

    async def timeline(request: Request) -> Response:
        timeline_calls.append(request.query_params.get("min_id"))
        if request.query_params.get("min_id") == "101":
            return JSONResponse([mastodon_status(2, "Missed while away: ACME outage")])
        return JSONResponse([])

    app = Starlette(
        routes=[
            Route("/api/v1/streaming/hashtag", stream),
            Route("/api/v1/timelines/tag/acme", timeline),
        ]
    )
    async with (
        local_server(app) as url,
        make_context(
            {**ACME, "sources": {"mastodon": {"hashtags": ["acme"]}}}, mastodon_base_url=url
        ) as (settings, _, context),
    ):
        async with running(MastodonSource(context), context):
            records = await read_topic(
                settings.bootstrap_servers, topics["topic_raw"], expected=3, timeout_s=30
            )
        dlq = await read_topic(settings.bootstrap_servers, topics["topic_dlq"], expected=1)
    mentions = [Mention.model_validate_json(r.value) for r in records]
    assert sorted((m.text, m.kind) for m in mentions) == [
        ("Acme rocks", "created"),
        ("Acme rocks (edited)", "updated"),
        ("Missed while away: ACME outage", "created"),
    ]
    assert mentions[0].author_reach == 42
    assert "101" in timeline_calls and len(dlq) == 1


async def test_x_rules_stream_backoff(make_context: Any, topics: dict) -> None:
    rules: dict[str, dict[str, str]] = {"old": {"id": "old", "value": "stale", "tag": "acme"}}
    stream_calls = 0
    auth: list[str | None] = []

    async def rules_endpoint(request: Request) -> Response:
        auth.append(request.headers.get("authorization"))
        if request.method == "GET":
            return JSONResponse({"data": list(rules.values()), "meta": {"sent": "now"}})
        body = orjson.loads(await request.body())
        for rule_id in body.get("delete", {}).get("ids", []):
            rules.pop(rule_id, None)
        for i, rule in enumerate(body.get("add", [])):
            rules[f"r{i}"] = {"id": f"r{i}", **rule}
        return JSONResponse({"meta": {"summary": {"created": len(body.get("add", []))}}})

    def tweet(n: int, text: str) -> bytes:
        return (
            orjson.dumps(
                {
                    "data": {
                        "id": str(n),
                        "text": text,
                        "author_id": "9",
                        "lang": "en",
                        "created_at": "2026-11-25T10:00:00.000Z",
                        "edit_history_tweet_ids": [str(n)],
                        "public_metrics": {
                            "retweet_count": 1,
                            "reply_count": 0,
                            "like_count": 5,
                            "quote_count": 0,
                            "impression_count": 100,
                        },
                    },
                    "includes": {
                        "users": [
                            {"id": "9", "username": "u", "public_metrics": {"followers_count": 7}}
                        ]
                    },
                    "matching_rules": [{"id": "r0", "tag": "acme"}],
                }
            )
            + b"\r\n"
        )

    async def stream(request: Request) -> Response:
        nonlocal stream_calls
        stream_calls += 1
        if stream_calls == 1:
            return JSONResponse({"title": "Too Many Requests"}, status_code=429)
        if stream_calls == 2:
            return JSONResponse({"title": "Service Unavailable"}, status_code=503)

        async def lines() -> Any:
            yield b"\r\n"
            yield tweet(1, "Acme delivery failed again")
            yield b"\r\n"
            yield b'{"data": {"id": "2"}}\r\n'  # malformed: no text
            yield tweet(1, "Acme delivery failed again")  # duplicate
            if stream_calls == 3:
                return  # disconnect
            yield tweet(3, "ACME refund received")
            await asyncio.sleep(30)

        return StreamingResponse(lines(), media_type="application/json")

    app = Starlette(
        routes=[
            Route("/2/tweets/search/stream/rules", rules_endpoint, methods=["GET", "POST"]),
            Route("/2/tweets/search/stream", stream),
        ]
    )
    async with (
        local_server(app) as url,
        make_context(
            {**ACME, "sources": {"x": {"hashtags": ["acmefail"]}}},
            x_base_url=url,
            x_bearer_token="token-123",
        ) as (settings, _, context),
    ):
        async with running(XStreamSource(context), context):
            records = await read_topic(
                settings.bootstrap_servers, topics["topic_raw"], expected=2, timeout_s=30
            )
        dlq = await read_topic(settings.bootstrap_servers, topics["topic_dlq"], expected=2)
    mentions = [Mention.model_validate_json(r.value) for r in records]
    assert sorted(m.external_id for m in mentions) == ["1", "3"]
    assert mentions[0].engagement.views == 100 and mentions[0].author_reach == 7
    assert "old" not in rules and {r["tag"] for r in rules.values()} == {"acme"}
    assert set(auth) == {"Bearer token-123"}
    assert stream_calls >= 4 and len(dlq) >= 1
