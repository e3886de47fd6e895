"""Kafka outage under running connectors: a Reddit poller and a Mastodon SSE stream pause while
a PRIVATE broker is down (the platform keeps publishing), keep their stored cursors at the last
published post, and after the restart every post is on the raw topic exactly once.

The shared broker is never touched: the test starts its own broker on free ports.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from services.ingest.core.assess import Candidate
from services.ingest.sources.base import Source, SourceContext
from services.ingest.sources.mastodon import PAGE as MASTODON_PAGE
from services.ingest.sources.mastodon import MastodonSource
from services.ingest.sources.reddit import RedditSource
from shared.infra import kafka_broker
from shared.schemas import Mention
from tests.fault_helpers import poll_until, private_kafka_settings
from tests.integration.ingest.conftest import ACME, local_server
from tests.integration.ingest.payloads import mastodon_status, reddit_post
from tests.kafka_helpers import read_topic

REDDIT_PAGE = 2  # the fake listing pages by 2, so a poll walks several pages


class Platform:
    """A Reddit-like listing and a Mastodon-like SSE stream + timeline that publish on demand."""

    def __init__(self) -> None:
        self.reddit: list[dict[str, Any]] = []
        self.reddit_calls = 0
        self.statuses: list[dict[str, Any]] = []
        self.live: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def publish_reddit(self, n: int) -> None:
        """A new post on the subreddit."""
        self.reddit.append(reddit_post(n, f"Acme kettle report number {n}"))

    def publish_mastodon(self, n: int) -> None:
        """A new status: on the timeline and pushed to the open stream."""
        status = mastodon_status(n, f"Acme outage toot {n}")
        self.statuses.append(status)
        self.live.put_nowait(status)

    async def listing(self, request: Request) -> JSONResponse:
        self.reddit_calls += 1
        after = request.query_params.get("after")
        newest_first = list(reversed(self.reddit))
        names = [p["data"]["name"] for p in newest_first]
        start = 0 if after is None else 1 + names.index(after)
        page = newest_first[start : start + REDDIT_PAGE]
        more = start + REDDIT_PAGE < len(newest_first)
        return JSONResponse(
            {"data": {"after": page[-1]["data"]["name"] if more else None, "children": page}}
        )

    async def stream(self, request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield b": connected\n\n"
            while True:
                status = await self.live.get()
                yield b"event: update\ndata: " + orjson.dumps(status) + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def timeline(self, request: Request) -> Response:
        min_id = int(request.query_params.get("min_id", "0"))
        newer = [s for s in self.statuses if int(s["id"]) > min_id]
        return JSONResponse(list(reversed(newer))[:MASTODON_PAGE])


class Recorder:
    """Wraps the shared ingest path to record batch sizes and how many emits wait at once."""

    def __init__(self, context: SourceContext, stop: asyncio.Event) -> None:
        self.context = context
        self.stop = stop
        self.batches: dict[str, list[int]] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    def emitter(self, name: str) -> Any:
        async def emit(items: Sequence[Candidate]) -> bool:
            self.batches.setdefault(name, []).append(len(items))
            self.in_flight[name] += 1
            self.max_in_flight[name] = max(self.max_in_flight[name], self.in_flight[name])
            try:
                return await self.context.ingestor.emit_until_accepted(
                    items, source=name, stop=self.stop
                )
            finally:
                self.in_flight[name] -= 1

        return emit


def _errors(context: SourceContext, source: str, kind: str) -> float:
    metric = context.ingestor.metrics.source_errors.labels(source, kind)
    return float(metric._value.get())


async def test_connectors_pause_during_kafka_outage_and_lose_nothing(
    make_context: Any, topics: dict[str, str], unique: str, tmp_path: Path
) -> None:
    broker = private_kafka_settings(tmp_path / "kafka", topics)
    await asyncio.to_thread(kafka_broker.start, broker)
    platform = Platform()
    sub, tag = f"outage{unique}", f"outage{unique}"
    reddit_key, mastodon_key = f"reddit:r/{sub}", f"mastodon:tag:{tag}"
    app = Starlette(
        routes=[
            Route(f"/r/{sub}/new.json", platform.listing),
            Route("/api/v1/streaming/hashtag", platform.stream),
            Route(f"/api/v1/timelines/tag/{tag}", platform.timeline),
        ]
    )
    watch = {**ACME, "sources": {"reddit": {"subreddits": [sub]}, "mastodon": {"hashtags": [tag]}}}
    try:
        async with (
            local_server(app) as url,
            make_context(
                watch,
                kafka_bootstrap=broker.bootstrap_servers,
                kafka_send_timeout_s=2.0,
                reddit_base_url=url,
                reddit_poll_s=0.05,
                reddit_max_pages=3,
                mastodon_base_url=url,
            ) as (settings, _, context),
        ):
            cursors = context.cursors
            stop = asyncio.Event()
            recorder = Recorder(context, stop)
            sources: list[Source] = [RedditSource(context), MastodonSource(context)]
            tasks = [asyncio.create_task(s.run(recorder.emitter(s.name), stop)) for s in sources]
            try:
                # Steady state: the first posts are produced and the cursors follow them.
                for n in (1, 2, 3):
                    platform.publish_reddit(n)
                await poll_until(
                    lambda: _cursor_is(cursors, reddit_key, "newest", "t3_3"),
                    timeout_s=20,
                    what="the reddit cursor at t3_3",
                )
                for n in (1, 2, 3):
                    platform.publish_mastodon(n)
                await poll_until(
                    lambda: _cursor_is(cursors, mastodon_key, "last_id", "103"),
                    timeout_s=20,
                    what="the mastodon cursor at 103",
                )

                # Outage: the platform keeps publishing; both connectors pause.
                await asyncio.to_thread(kafka_broker.stop, broker)
                for n in (4, 5, 6):
                    platform.publish_reddit(n)
                    platform.publish_mastodon(n)
                for source in ("reddit", "mastodon"):
                    await poll_until(
                        lambda s=source: _errors(context, s, "kafka_unavailable") >= 2,
                        timeout_s=30,
                        what=f"{source} to pause on the unavailable broker",
                    )
                calls = platform.reddit_calls
                # More posts while paused: a paused poller does not fetch (nothing piles up).
                for n in (7, 8):
                    platform.publish_reddit(n)
                    platform.publish_mastodon(n)
                paused = _errors(context, "reddit", "kafka_unavailable")
                await poll_until(
                    lambda: _errors(context, "reddit", "kafka_unavailable") >= paused + 2,
                    timeout_s=30,
                    what="more produce attempts during the outage",
                )
                assert platform.reddit_calls == calls, "poller kept fetching while paused"
                assert (await cursors.get(reddit_key) or {})["newest"] == "t3_3"
                assert (await cursors.get(mastodon_key) or {})["last_id"] == "103"
                assert not any(t.done() for t in tasks), "a connector stopped during the outage"
                assert _errors(context, "reddit", "crashed") == 0

                # Restart: everything published meanwhile arrives, the cursors catch up.
                await asyncio.to_thread(kafka_broker.start, broker)
                await poll_until(
                    lambda: _cursor_is(cursors, reddit_key, "newest", "t3_8"),
                    timeout_s=60,
                    what="the reddit cursor at t3_8 after the restart",
                )
                await poll_until(
                    lambda: _cursor_is(cursors, mastodon_key, "last_id", "108"),
                    timeout_s=60,
                    what="the mastodon cursor at 108 after the restart",
                )
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)
            records = await read_topic(
                broker.bootstrap_servers, topics["topic_raw"], expected=16, timeout_s=60
            )
    finally:
        await asyncio.to_thread(kafka_broker.stop, broker)
    ids = Counter(Mention.model_validate_json(r.value).external_id for r in records)
    expected = {f"t3_{n}" for n in range(1, 9)} | {
        f"https://m.example/users/u/statuses/{100 + n}" for n in range(1, 9)
    }
    assert set(ids) == expected, sorted(set(ids) ^ expected)
    assert all(count == 1 for count in ids.values()), {k: c for k, c in ids.items() if c > 1}
    # Bounded memory: one batch per connector at a time, never larger than one poll's pages.
    assert max(recorder.batches["reddit"]) <= settings.reddit_max_pages * REDDIT_PAGE
    assert max(recorder.batches["mastodon"]) <= MASTODON_PAGE
    assert recorder.max_in_flight["reddit"] == 1 and recorder.max_in_flight["mastodon"] == 1


async def _cursor_is(cursors: Any, key: str, field: str, value: str) -> bool:
    cursor = await cursors.get(key)
    return cursor is not None and cursor.get(field) == value
