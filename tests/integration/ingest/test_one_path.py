"""One ingest path: the same batch (valid, duplicate, unmatched, invalid) pushed to the ingest
service and to the API, emitted by a connector, delivered by a Meta webhook and replayed from
a file gets the same per-item outcomes and the same Kafka and dead-letter records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from services.ingest.component import IngestComponent
from services.ingest.cursors import PgCursorStore
from services.ingest.pipeline import Ingestor, Outcome
from services.ingest.service import create_ingest_app
from services.ingest.sources import connectors
from services.ingest.sources.base import Emit, Source, SourceContext, candidate
from services.ingest.sources.push_auth import hub_signature
from services.ingest.sources.replay import run_replay
from shared.kafka import ensure_topics
from shared.schemas import DeadLetter, Mention
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tests.kafka_helpers import SESSION_TOPIC_PREFIX, read_topic

PAGE = "104523456789012"  # a Page of the acme watchlist
OTHER_PAGE = "999000111"  # a Page nobody watches
CREATED = 1764064800  # 2025-11-25T10:00:00Z
META_SECRET = "meta-secret"
WATCHLIST = f"brand: acme\naliases: [Acme]\nsources:\n  meta:\n    pages: ['{PAGE}']\n"
EXPECTED = ["accepted", "duplicate", "unmatched", "invalid"]


def _comment(comment_id: str, message: str, author: str) -> dict[str, Any]:
    post = comment_id.split("_")[0]
    return {
        "field": "feed",
        "value": {
            "item": "comment",
            "verb": "add",
            "comment_id": comment_id,
            "post_id": post,
            "parent_id": post,
            "from": {"id": author, "name": "Jo"},
            "message": message,
            "created_time": CREATED,
        },
    }


VALID = _comment("444_555", "Your Acme kettle leaks", "2468")
UNMATCHED = _comment("777_888", "Lovely weather today", "1357")
INVALID = _comment("444_556", "", "2468")  # a comment without text
DELIVERY = {
    "object": "page",
    "entry": [
        {"id": PAGE, "time": CREATED, "changes": [VALID, VALID]},
        {"id": OTHER_PAGE, "time": CREATED, "changes": [UNMATCHED]},
        {"id": PAGE, "time": CREATED, "changes": [INVALID]},
    ],
}


def _as_pushed(change: dict[str, Any], page: str) -> dict[str, Any]:
    """The change as a pushed `MentionIn` (what the webhook source makes of it)."""
    value = change["value"]
    item: dict[str, Any] = {
        "platform": "facebook",
        "external_id": value["comment_id"],
        "author": value["from"]["id"],
        "text": value["message"],
        "created_at": "2025-11-25T10:00:00Z",
        "in_reply_to": value["parent_id"],
        "source": {"page": page, "post": value["post_id"]},
    }
    if page == PAGE:
        item["brands"] = ["acme"]
    return item


BATCH = [
    _as_pushed(VALID, PAGE),
    _as_pushed(VALID, PAGE),
    _as_pushed(UNMATCHED, OTHER_PAGE),
    _as_pushed(INVALID, PAGE),
]


class ListConnector(Source):
    """A connector reading a list of platform records once (a poller's first page)."""

    name = "list"

    def wanted(self) -> bool:
        return True

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        items = [candidate(record, dict) for record in BATCH]
        await emit([item for item in items if item is not None])
        await stop.wait()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Outcome]]]:
    """Every `Ingestor.accept` call's source and answer, in order."""
    calls: list[tuple[str, list[Outcome]]] = []
    accept = Ingestor.accept

    async def recording(self: Ingestor, items: Any, *, source: str) -> list[Outcome]:
        outcomes = await accept(self, items, source=source)
        calls.append((source, outcomes))
        return outcomes

    monkeypatch.setattr(Ingestor, "accept", recording)
    return calls


@pytest.fixture
def path_settings(
    settings_factory: Callable[..., Any], unique: str, tmp_path: Path, infra: Any
) -> Callable[..., Any]:
    """Settings of one path: the acme watchlist directory and topics of its own."""
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    (watchlists / "acme.yaml").write_text(WATCHLIST)

    def make(path: str, cls: type[Any] = IngestSettings, **overrides: Any) -> Any:
        raw = f"{SESSION_TOPIC_PREFIX}{unique}.{path}.raw"
        dlq = f"{SESSION_TOPIC_PREFIX}{unique}.{path}.dlq"
        asyncio.run(ensure_topics(infra.bootstrap_servers, {raw: 3, dlq: 3}))
        return settings_factory(
            cls,
            topic_raw=raw,
            topic_dlq=dlq,
            watchlist_dir=watchlists,
            meta_app_secret=META_SECRET,
            **overrides,
        )

    return make


@contextlib.asynccontextmanager
async def _ingest_client(settings: IngestSettings) -> AsyncIterator[httpx.AsyncClient]:
    component = IngestComponent(settings, CollectorRegistry())
    app = create_ingest_app(settings, component=component)
    await component.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client
    finally:
        await component.stop()


def _status(items: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(i["status"], i["reason"]) for i in items]


async def test_every_source_takes_the_one_path(
    path_settings: Callable[..., Any],
    settings_factory: Callable[..., Any],
    spy: list[tuple[str, list[Outcome]]],
    db_engine: Any,
    tmp_path: Path,
) -> None:
    settings = {
        name: await asyncio.to_thread(path_settings, name)
        for name in ("push", "list", "meta", "replay", "api")
    }
    # The API's own section agrees with its ingest section on the topics (create_app checks).
    api_section = settings_factory(
        ApiSettings,
        topic_raw=settings["api"].topic_raw,
        topic_dlq=settings["api"].topic_dlq,
        retention_interval_s=0,
    )
    answers: dict[str, list[tuple[str, str | None]]] = {}

    async with _ingest_client(settings["push"]) as client:
        pushed = await client.post("/v1/mentions", json=BATCH)
        assert pushed.status_code == 207, pushed.text
        answers["push"] = _status(pushed.json()["items"])

    api = create_app(api_section, settings["api"], registry=CollectorRegistry())
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as c,
    ):
        via_api = await c.post("/v1/mentions", json=BATCH)
        assert via_api.status_code == 207, via_api.text
        answers["api"] = _status(via_api.json()["items"])

    async with _ingest_client(settings["meta"]) as client:
        body = orjson.dumps(DELIVERY)
        signed = {"X-Hub-Signature-256": hub_signature(META_SECRET.encode(), body)}
        delivered = await client.post("/v1/webhooks/meta", content=body, headers=signed)
        assert delivered.status_code == 200, delivered.text
        answers["meta"] = _status(delivered.json()["items"])

    component = IngestComponent(settings["list"], CollectorRegistry())
    await component.start()
    try:
        context = SourceContext(
            settings=settings["list"],
            watchlists=component.watchlists,
            cursors=PgCursorStore(db_engine),
            ingestor=component.ingestor,
        )
        stop = asyncio.Event()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(connectors, "SOURCES", {"list": ListConnector})
            running = asyncio.create_task(connectors.run_connectors(context, stop))
            for _ in range(200):
                if any(source == "list" for source, _ in spy):
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(running, timeout=15)
    finally:
        await component.stop()

    lines = tmp_path / "batch.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in BATCH))
    stats = await run_replay(settings["replay"], lines, progress=False, workers=1)
    counts = (stats.produced, stats.duplicates, stats.unmatched, stats.rejected)
    assert stats.read == 4 and counts == (1, 1, 1, 1)

    # One `accept` per path, with the same outcome per item and the same reasons.
    calls = [(source, [(o.status, o.reason) for o in found]) for source, found in spy]
    assert [source for source, _ in calls] == ["push", "push", "meta", "list", "replay"]
    expected = calls[0][1]
    assert all(found == expected for _, found in calls)
    assert expected == answers["push"] == answers["api"] == answers["meta"]
    assert [status for status, _ in expected] == EXPECTED
    assert "no watched brand" in (expected[2][1] or "")
    assert "text" in (expected[3][1] or "")

    # The same records: one mention on mentions.raw and one dead letter each.
    mentions: dict[str, dict[str, Any]] = {}
    letters: dict[str, DeadLetter] = {}
    for name, values in settings.items():
        raw = await read_topic(values.bootstrap_servers, values.topic_raw, expected=1)
        dlq = await read_topic(values.bootstrap_servers, values.topic_dlq, expected=1)
        assert len(raw) == 1 and len(dlq) == 1, (name, len(raw), len(dlq))
        assert raw[0].key == b"acme"
        mention = Mention.model_validate_json(raw[0].value)
        mentions[name] = mention.model_dump(mode="json", exclude={"ingested_at"})
        letters[name] = DeadLetter.model_validate_json(dlq[0].value)
    first = mentions["push"]
    assert first["external_id"] == "444_555" and first["brands"] == ["acme"]
    assert all(m == first for m in mentions.values())
    assert {letter.reason for letter in letters.values()} == {expected[3][1]}
    assert all("444_556" in letter.original for letter in letters.values())
