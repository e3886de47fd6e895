"""Instagram `mentions` webhooks carry ids only: the text is fetched from a local Graph-API-like
server; a fetch that keeps failing dead-letters the change with its reason."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ingest.component import IngestComponent
from services.ingest.core.watchlist import Watchlist, WatchlistStore
from services.ingest.service import create_ingest_app
from services.ingest.sources.push_auth import hub_signature
from shared.schemas import DeadLetter, Mention
from shared.settings.ingest import IngestSettings
from tests.integration.ingest.conftest import ACME, local_server
from tests.kafka_helpers import read_topic

IG_USER = "17841400000000001"


class FakeGraph:
    """`GET /{ig-user-id}?fields=mentioned_comment...|mentioned_media...` with a flaky start."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    async def user(self, request: Request) -> JSONResponse:
        params = dict(request.query_params)
        self.calls.append(params)
        if request.path_params["user"] != IG_USER or params.get("access_token") != "ig-token":
            return JSONResponse({"error": {"message": "Invalid OAuth access token"}}, 400)
        fields = params["fields"]
        if "comment_id(999)" in fields:  # a comment that keeps failing server-side
            return JSONResponse({"error": {"message": "An unexpected error has occurred"}}, 500)
        if len(self.calls) == 1:  # one transient failure: retried
            return JSONResponse({"error": {"message": "Please retry"}}, 503)
        if fields.startswith("mentioned_comment.comment_id(17890)"):
            comment = {
                "text": "@acme your kettle <b>leaks</b> again",
                "timestamp": "2026-11-25T10:00:00+0000",
                "username": "jo_kettles",
                "like_count": 3,
                "media": {"id": "555", "permalink": "https://www.instagram.com/p/abc/"},
                "id": "17890",
            }
            return JSONResponse({"mentioned_comment": comment, "id": IG_USER})
        if fields.startswith("mentioned_media.media_id(17920)"):
            media = {
                "caption": "Unboxing my new @acme blender",
                "timestamp": "2026-11-25T11:00:00+0000",
                "permalink": "https://www.instagram.com/p/def/",
                "username": "blendfan",
                "id": "17920",
            }
            return JSONResponse({"mentioned_media": media, "id": IG_USER})
        return JSONResponse({"error": {"message": "Unsupported get request"}}, 400)


def _mentions(*values: dict[str, str]) -> bytes:
    changes = [{"field": "mentions", "value": v} for v in values]
    return orjson.dumps(
        {"object": "instagram", "entry": [{"id": IG_USER, "time": 1764064800, "changes": changes}]}
    )


async def test_instagram_mentions_fetch_text_or_dead_letter(
    settings_factory: Any, topics: dict[str, str]
) -> None:
    graph = FakeGraph()
    app = Starlette(routes=[Route("/v21.0/{user}", graph.user)])
    async with local_server(app) as url:
        settings: IngestSettings = settings_factory(
            IngestSettings,
            meta_app_secret="meta-secret",
            meta_graph_base_url=f"{url}/v21.0",
            meta_access_token="ig-token",
            meta_ig_user_id=IG_USER,
            meta_graph_retries=2,
            fetch_allow_private=True,
            backoff_scale=0.01,
        )
        watch = {**ACME, "sources": {"meta": {"instagram_accounts": [IG_USER]}}}
        store = WatchlistStore.of([Watchlist.model_validate(watch)])
        component = IngestComponent(settings, CollectorRegistry(), watchlists=store)
        ingest = create_ingest_app(settings, component=component)
        await component.start()
        try:
            transport = httpx.ASGITransport(app=ingest)
            async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
                payload = _mentions(
                    {"media_id": "555", "comment_id": "17890"},
                    {"media_id": "17920"},
                    {"media_id": "556", "comment_id": "999"},
                )
                signed = {"X-Hub-Signature-256": hub_signature(b"meta-secret", payload)}
                answer = await client.post("/v1/webhooks/meta", content=payload, headers=signed)
                assert answer.status_code == 200, answer.text
                result = answer.json()
                counts = {k: result[k] for k in ("accepted", "duplicate", "unmatched", "invalid")}
                assert counts == {"accepted": 2, "duplicate": 0, "unmatched": 0, "invalid": 1}
                (failed,) = [i for i in result["items"] if i["status"] == "invalid"]
                assert "HTTP 500" in failed["reason"]
        finally:
            await component.stop()
        records = await read_topic(settings.bootstrap_servers, topics["topic_raw"], expected=2)
        dlq = await read_topic(settings.bootstrap_servers, topics["topic_dlq"], expected=1)
    mentions = {m.external_id: m for m in (Mention.model_validate_json(r.value) for r in records)}
    assert sorted(mentions) == ["17890", "17920"]
    comment, media = mentions["17890"], mentions["17920"]
    assert "kettle <b>leaks</b> again" in comment.text or "kettle leaks again" in comment.text
    assert comment.platform == "instagram" and comment.brands == ["acme"]
    assert comment.created_at.isoformat().startswith("2026-11-25T10:00:00")
    assert comment.author_id != "jo_kettles"  # pseudonymised like every other author
    assert media.text == "Unboxing my new @acme blender"
    assert str(media.url) == "https://www.instagram.com/p/def/"
    letters = [DeadLetter.model_validate_json(r.value) for r in dlq]
    assert len(letters) == 1
    assert "HTTP 500" in letters[0].reason and "after 3 attempts" in letters[0].reason
    assert "999" in letters[0].original and "ig-token" not in letters[0].reason
    failing = [c for c in graph.calls if "comment_id(999)" in c["fields"]]
    assert len(failing) == 3  # bounded: one try plus two retries
    assert all(c["access_token"] == "ig-token" for c in graph.calls)
