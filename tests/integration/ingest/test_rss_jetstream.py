"""RSS (conditional GET, no re-emits) and Bluesky Jetstream (WebSocket, cursor resume)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.ingest.sources.fetch import ForbiddenAddress, check_url, make_client
from services.ingest.sources.jetstream import CURSOR_KEY, JetstreamSource
from services.ingest.sources.rss import RssSource
from shared.schemas import Mention
from tests.integration.ingest.conftest import ACME, local_server, running
from tests.kafka_helpers import free_port, read_topic

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Tech News</title>
<item><guid>n-1</guid><title>Acme recalls kettles</title><description>&lt;p&gt;Fire risk&lt;/p&gt;
</description><pubDate>Wed, 25 Nov 2026 09:00:00 GMT</pubDate><link>https://n/1</link></item>
<item><guid>n-2</guid><title>Weather today</title><description>sunny</description></item>
{extra}</channel></rss>"""


async def test_rss_conditional_get_and_no_reemit(make_context: Any, topics: dict) -> None:
    state = {"extra": "", "etag": '"v1"', "304s": 0}

    async def feed(request: Request) -> Response:
        if request.headers.get("if-none-match") == state["etag"]:
            state["304s"] += 1
            return Response(status_code=304)
        body = FEED.format(extra=state["extra"])
        return Response(body, media_type="application/rss+xml", headers={"ETag": state["etag"]})

    app = Starlette(routes=[Route("/feed.xml", feed)])
    async with local_server(app) as url:
        watch = {**ACME, "sources": {"rss": {"feeds": [f"{url}/feed.xml"]}}}
        async with make_context(watch) as (settings, _, context):
            source = RssSource(context)
            emitted: list[Any] = []

            async def emit(items: Any) -> bool:
                emitted.extend(items)
                return await context.ingestor.emit_until_accepted(
                    items, source="rss", stop=asyncio.Event()
                )

            async with make_client(settings) as client:
                assert await source.poll(client, f"{url}/feed.xml", emit) == 2
                assert await source.poll(client, f"{url}/feed.xml", emit) == 0
                assert state["304s"] == 1
                state["extra"] = "<item><guid>n-3</guid><title>ACME responds</title></item>"
                state["etag"] = '"v2"'
                # A fresh connector (restart) resumes from the stored GUIDs: only n-3 is new.
                assert await RssSource(context).poll(client, f"{url}/feed.xml", emit) == 1
            records = await read_topic(settings.bootstrap_servers, topics["topic_raw"], expected=2)
    ids = sorted(Mention.model_validate_json(r.value).external_id for r in records)
    assert ids == ["n-1", "n-3"]


async def test_private_addresses_refused_unless_allowed() -> None:
    for url in ["http://127.0.0.1/feed", "http://10.1.2.3/x", "http://[::1]/", "file:///etc"]:
        try:
            await check_url(url, allow_private=False)
        except ForbiddenAddress:
            continue
        raise AssertionError(f"{url} was allowed")
    await check_url("http://127.0.0.1/feed", allow_private=True)


def _commit(n: int, text: str, op: str = "create") -> bytes:
    return orjson.dumps(
        {
            "did": "did:plc:user1",
            "time_us": 1_764_000_000_000_000 + n,
            "kind": "commit",
            "commit": {
                "rev": f"r{n}",
                "operation": op,
                "collection": "app.bsky.feed.post",
                "rkey": f"k{n}",
                "cid": f"c{n}",
                "record": {
                    "$type": "app.bsky.feed.post",
                    "text": text,
                    "createdAt": "2026-11-25T10:00:00.000Z",
                    "langs": ["en"],
                },
            },
        }
    )


async def test_jetstream_stream_resume_and_malformed(make_context: Any, topics: dict) -> None:
    cursors_seen: list[str | None] = []
    connections = 0

    async def handler(ws: Any) -> None:
        nonlocal connections
        connections += 1
        query = ws.request.path.split("?", 1)[-1]
        cursors_seen.append(dict(p.split("=") for p in query.split("&")).get("cursor"))
        if connections == 1:
            await ws.send(_commit(1, "Acme is great"))
            await ws.send(_commit(2, "nothing here"))
            await ws.send(b"{not json")
            await ws.send(orjson.dumps({"did": "d", "time_us": 3, "kind": "identity"}))
            return  # disconnect: the connector must come back with its cursor
        await ws.send(_commit(1, "Acme is great"))  # replayed by the rewind: deduplicated
        await ws.send(_commit(4, "Acme is terrible now", op="update"))
        await ws.send(_commit(5, "delete me", op="delete"))
        await ws.wait_closed()

    port = free_port()
    watch = {**ACME, "sources": {"bluesky": {"enabled": True}}}
    async with (
        websockets.serve(handler, "127.0.0.1", port),
        make_context(
            watch, jetstream_url=f"ws://127.0.0.1:{port}/subscribe", jetstream_rewind_s=1.0
        ) as (settings, _, context),
    ):
        await context.cursors.put(CURSOR_KEY, {"time_us": 1_764_000_000_000_000})
        async with running(JetstreamSource(context), context):
            records = await read_topic(
                settings.bootstrap_servers, topics["topic_raw"], expected=2, timeout_s=30
            )
        dlq = await read_topic(settings.bootstrap_servers, topics["topic_dlq"], expected=1)
        cursor = await context.cursors.get(CURSOR_KEY)
    mentions = [Mention.model_validate_json(r.value) for r in records]
    assert [(m.external_id.rsplit("/", 1)[-1], m.kind) for m in mentions] == [
        ("k1", "created"),
        ("k4", "updated"),
    ]
    assert len(dlq) == 1
    assert cursors_seen[0] == str(1_764_000_000_000_000 - 1_000_000)
    assert cursor is not None and cursor["time_us"] >= 1_764_000_000_000_003


async def test_jetstream_resumed_on_another_replica_skips_the_rewound_posts(
    make_context: Any, topics: dict
) -> None:
    """The rewind replays what the previous holder produced; the cursor's fingerprints make
    a replica with an empty de-duplication memory skip it."""
    connections = 0

    async def handler(ws: Any) -> None:
        nonlocal connections
        connections += 1
        await ws.send(_commit(1, "Acme is great"))
        await ws.send(_commit(2, "Acme kettle again"))
        if connections > 1:  # the other replica resumes: the rewind replays 1 and 2
            await ws.send(_commit(3, "Acme support replied"))
        await ws.wait_closed()

    port = free_port()
    watch = {**ACME, "sources": {"bluesky": {"enabled": True}}}
    overrides = {"jetstream_url": f"ws://127.0.0.1:{port}/subscribe", "jetstream_rewind_s": 5.0}
    async with websockets.serve(handler, "127.0.0.1", port):
        async with make_context(watch, **overrides) as (settings, _, first):
            await first.cursors.put(CURSOR_KEY, {"time_us": 1_764_000_000_000_000})
            async with running(JetstreamSource(first), first):
                await read_topic(settings.bootstrap_servers, topics["topic_raw"], expected=2)
        # A second ingest component: its own, empty, in-process de-duplication.
        async with make_context(watch, **overrides) as (_, _, second):
            async with running(JetstreamSource(second), second):
                records = await read_topic(
                    settings.bootstrap_servers, topics["topic_raw"], expected=3, timeout_s=30
                )
            cursor = await second.cursors.get(CURSOR_KEY)
    mentions = [Mention.model_validate_json(r.value) for r in records]
    assert sorted(m.external_id.rsplit("/", 1)[-1] for m in mentions) == ["k1", "k2", "k3"]
    assert cursor is not None and cursor["time_us"] == 1_764_000_000_000_003
    assert len(cursor["recent"]) == 3
