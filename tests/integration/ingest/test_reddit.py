"""Reddit connector against a local server speaking Reddit's paged listing JSON."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ingest.sources.reddit import RedditSource
from shared.schemas import DeadLetter, Mention
from tests.integration.ingest.conftest import ACME, local_server, running
from tests.integration.ingest.payloads import reddit_post
from tests.kafka_helpers import read_topic, wait_for


class FakeReddit:
    """Newest-first listing in pages of 2 with `after`; the first call answers 429."""

    def __init__(self) -> None:
        self.posts = [
            reddit_post(1, "Acme kettle caught fire"),
            reddit_post(2, "I love pineapple"),
            reddit_post(3, "Acme support is slow"),
        ]
        self.calls = 0
        self.afters: list[str | None] = []

    async def listing(self, request: Request) -> JSONResponse:
        self.calls += 1
        if self.calls == 1:
            return JSONResponse(
                {"message": "Too Many Requests"},
                status_code=429,
                headers={"x-ratelimit-reset": "0.05", "x-ratelimit-remaining": "0"},
            )
        after = request.query_params.get("after")
        self.afters.append(after)
        newest_first = list(reversed(self.posts))
        start = 0 if after is None else 1 + [p["data"]["name"] for p in newest_first].index(after)
        page = newest_first[start : start + 2]
        more = start + 2 < len(newest_first)
        return JSONResponse(
            {
                "kind": "Listing",
                "data": {"after": page[-1]["data"]["name"] if more else None, "children": page},
            },
            headers={"x-ratelimit-remaining": "99", "x-ratelimit-reset": "300"},
        )


async def test_reddit_pages_resumes_and_dead_letters(make_context: Any, topics: dict) -> None:
    fake = FakeReddit()
    app = Starlette(routes=[Route("/r/acmetest/new.json", fake.listing)])
    watch = {**ACME, "sources": {"reddit": {"subreddits": ["acmetest"]}}}
    async with (
        local_server(app) as url,
        make_context(watch, reddit_base_url=url, reddit_poll_s=0.1) as (settings, _, context),
    ):
        async with running(RedditSource(context), context):
            await wait_for(
                lambda: context.cursors.get("reddit:r/acmetest"),
                lambda c: c is not None and c["newest"] == "t3_3",
                timeout_s=20,
            )
            # New posts arrive, more than one page: the poller follows `after` to its cursor.
            fake.posts += [
                reddit_post(4, "ACME recall announced"),
                reddit_post(5, "acme of perfection"),
                {"kind": "t3", "data": {"name": "t3_6", "title": "Acme broken"}},
                reddit_post(7, "アクメのケトルが壊れた"),
            ]
            await wait_for(
                lambda: context.cursors.get("reddit:r/acmetest"),
                lambda c: c is not None and c["newest"] == "t3_7",
                timeout_s=20,
            )
        # A restarted connector resumes from PostgreSQL and produces nothing twice.
        async with running(RedditSource(context), context):
            calls = fake.calls
            await wait_for(lambda: _value(fake.calls), lambda c: c >= calls + 2, timeout_s=20)
        records = await read_topic(settings.bootstrap_servers, topics["topic_raw"], expected=4)
        dlq = await read_topic(settings.bootstrap_servers, topics["topic_dlq"], expected=1)
    mentions = [Mention.model_validate_json(r.value) for r in records]
    assert sorted(m.external_id for m in mentions) == ["t3_1", "t3_3", "t3_4", "t3_7"]
    assert all(m.brands == ["acme"] and r.key == b"acme" for m, r in zip(mentions, records))
    assert fake.afters.count("t3_6") >= 1  # second page fetched with the after token
    letters = [DeadLetter.model_validate_json(r.value) for r in dlq]
    assert len(letters) == 1 and "t3_6" in letters[0].original


async def _value(x: int) -> int:
    return x
