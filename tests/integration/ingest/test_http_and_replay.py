"""Signed pushes and Meta webhooks through the ingest app; replay of a JSONL file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from services.ingest.component import IngestComponent
from services.ingest.core.watchlist import Watchlist, WatchlistStore
from services.ingest.service import create_ingest_app
from services.ingest.sources.push_auth import hub_signature, sign
from services.ingest.sources.replay import run_replay
from shared.schemas import Mention
from shared.settings.ingest import IngestSettings
from tests.benchmarks.make_replay_sample import write_sample
from tests.integration.api.conftest import make_keys
from tests.integration.ingest.conftest import ACME
from tests.kafka_helpers import read_topic, wait_for

PAGE = "104523456789012"


def _item(n: int, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"p{n}",
        "author": "u1",
        "text": text,
        "created_at": "2026-11-25T10:00:00Z",
        **extra,
    }


async def test_signed_push_and_meta_webhooks(settings_factory: Any, topics: dict) -> None:
    settings: IngestSettings = settings_factory(
        IngestSettings,
        ingest_require_auth=True,
        push_hmac_secret="push-secret-123",
        ingest_api_keys=["key-abc"],
        meta_app_secret="meta-secret",
        meta_verify_token="vt",
    )
    store = WatchlistStore.of(
        [
            Watchlist.model_validate(
                {**ACME, "sources": {"meta": {"pages": [PAGE], "instagram_accounts": ["1784"]}}}
            )
        ]
    )
    component = IngestComponent(settings, CollectorRegistry(), watchlists=store)
    app = create_ingest_app(settings, component=component)
    await component.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            body = orjson.dumps([_item(1, "Acme broke"), _item(2, "unrelated", brands=["nike"])])
            ts = int(time.time())
            headers = {
                "X-Crisiswatch-Timestamp": str(ts),
                "X-Crisiswatch-Signature": sign(b"push-secret-123", ts, body),
            }
            assert (await client.post("/v1/mentions", content=body)).status_code == 401
            ok = await client.post("/v1/mentions", content=body, headers=headers)
            assert ok.status_code == 202, ok.text
            # Item 2 matches no watched brand: reported as unmatched, not refused.
            assert [i["status"] for i in ok.json()["items"]] == ["accepted", "unmatched"]
            assert "no watched brand" in ok.json()["items"][1]["reason"]
            replayed = await client.post("/v1/mentions", content=body, headers=headers)
            assert replayed.status_code == 401 and "replay" in replayed.text
            old = {
                "X-Crisiswatch-Timestamp": str(ts - 3600),
                "X-Crisiswatch-Signature": sign(b"push-secret-123", ts - 3600, body),
            }
            assert (await client.post("/v1/mentions", content=body, headers=old)).status_code == 401
            again = orjson.dumps([_item(1, "Acme broke")])  # an unchanged repeat: not re-produced
            key = {"X-API-Key": "key-abc"}
            keyed = await client.post("/v1/mentions", content=again, headers=key)
            assert keyed.status_code == 202
            assert keyed.json()["items"][0]["status"] == "duplicate"
            bad_key = await client.post("/v1/mentions", content=again, headers={"X-API-Key": "x"})
            assert bad_key.status_code == 401

            verify = await client.get(
                "/v1/webhooks/meta",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": "vt",
                    "hub.challenge": "1158201444",
                },
            )
            assert verify.text == "1158201444"
            wrong = await client.get(
                "/v1/webhooks/meta",
                params={"hub.mode": "subscribe", "hub.verify_token": "no", "hub.challenge": "1"},
            )
            assert wrong.status_code == 403
            delivery = orjson.dumps(
                {
                    "object": "page",
                    "entry": [
                        {
                            "id": PAGE,
                            "time": 1764064800,
                            "changes": [
                                {
                                    "field": "feed",
                                    "value": {
                                        "item": "comment",
                                        "verb": "add",
                                        "comment_id": "444_555",
                                        "post_id": "444",
                                        "parent_id": "444",
                                        "from": {"id": "2468", "name": "Jo"},
                                        "message": "Your kettle leaks",
                                        "created_time": 1764064800,
                                    },
                                }
                            ],
                        }
                    ],
                }
            )
            ig = orjson.dumps(
                {
                    "object": "instagram",
                    "entry": [
                        {
                            "id": "1784",
                            "time": 1764064800,
                            "changes": [
                                {
                                    "field": "comments",
                                    "value": {
                                        "from": {"id": "232323", "username": "test"},
                                        "media": {"id": "123123"},
                                        "id": "17865799348089039",
                                        "text": "This is an example.",
                                    },
                                },
                                {"field": "comments", "value": {"id": "broken"}},
                            ],
                        }
                    ],
                }
            )
            for payload in (delivery, ig):
                signed = {"X-Hub-Signature-256": hub_signature(b"meta-secret", payload)}
                answer = await client.post("/v1/webhooks/meta", content=payload, headers=signed)
                assert answer.status_code == 200, answer.text
            unsigned = await client.post("/v1/webhooks/meta", content=delivery)
            assert unsigned.status_code == 401
    finally:
        await component.stop()
    records = await read_topic(settings.bootstrap_servers, topics["topic_raw"], expected=3)
    mentions = [Mention.model_validate_json(r.value) for r in records]
    assert sorted(m.external_id for m in mentions) == ["17865799348089039", "444_555", "p1"]
    assert all(m.brands == ["acme"] for m in mentions)


async def test_replay_jsonl_rebased(settings_factory: Any, topics: dict, tmp_path: Path) -> None:
    path = write_sample(tmp_path / "sample.jsonl", 2_000)
    with path.open("ab") as fh:
        fh.write(b"{not json}\n" + orjson.dumps({"platform": "x"}) + b"\n")
    settings: IngestSettings = settings_factory(IngestSettings)
    stats = await run_replay(settings, path, speed=None, rebase=True, progress=False, workers=1)
    assert (stats.read, stats.produced, stats.rejected) == (2_002, 2_000, 2)
    records = await read_topic(settings.bootstrap_servers, topics["topic_raw"], expected=2_000)
    assert len(records) == 2_000
    first = min(Mention.model_validate_json(r.value).created_at for r in records)
    assert abs(time.time() - first.timestamp()) < 120


async def test_replay_paced_csv(settings_factory: Any, topics: dict, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "platform,external_id,author,text,created_at,likes,brands\n"
        "x,c1,a,Acme one,2026-11-25T10:00:00Z,3,acme\n"
        "x,c2,a,Acme two,2026-11-25T10:00:10Z,1,acme\n"
        "x,c3,a,Acme three,2026-11-25T10:00:20Z,x,acme\n"
    )
    settings: IngestSettings = settings_factory(IngestSettings)
    stats = await run_replay(settings, path, speed=20.0, rebase=False, progress=False, workers=0)
    assert (stats.produced, stats.rejected) == (2, 1)
    assert stats.seconds >= 0.4  # 10 s of records at 20x real time


async def test_ingest_service_takes_database_keys(
    settings_factory: Any, topics: dict, db_engine: Any, unique: str
) -> None:
    """The one push authentication: database keys work on the ingest service too."""
    settings: IngestSettings = settings_factory(
        IngestSettings, ingest_require_auth=True, ingest_api_keys=["key-abc"]
    )
    keys = await make_keys(db_engine, f"ingest-{unique}")
    component = IngestComponent(settings, CollectorRegistry())
    with_db = create_ingest_app(settings, component=component, engine=db_engine)
    without_db = create_ingest_app(settings, component=component)
    await component.start()
    try:
        for app, expected in (
            (with_db, {"ingest": 202, "admin": 202, "viewer": 403, "responder": 403}),
            (without_db, {"ingest": 401, "admin": 401}),
        ):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
                for role, status in expected.items():
                    body = [_item(len(role), f"Acme pushed by {role}", brands=["acme"])]
                    bearer = {"Authorization": f"Bearer {keys[role]}"}
                    resp = await client.post("/v1/mentions", json=body, headers=bearer)
                    assert resp.status_code == status, (role, resp.text)
                forged = {"X-API-Key": keys["ingest"][:-2] + "xx"}
                refused = await client.post("/v1/mentions", json=[_item(9, "Acme")], headers=forged)
                assert refused.status_code == 401
                anonymous = await client.post("/v1/mentions", json=[_item(9, "Acme")])
                assert anonymous.status_code == 401
    finally:
        await component.stop()


async def test_api_push_follows_watchlist_changes(
    api_sections: Any, topics: dict, tmp_path: Path
) -> None:
    """The API's push reloads watchlists like the ingest service (same component)."""
    (tmp_path / "acme.yaml").write_text("brand: acme\naliases: [Acme]\n")
    api, ingest = api_sections(watchlist_dir=tmp_path, watchlist_poll_s=0.1, retention_interval_s=0)
    app = create_app(api, ingest, registry=CollectorRegistry())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,
    ):
        first = await c.post("/v1/mentions", json=[_item(1, "My Globex oven died")])
        assert first.status_code == 200 and first.json()["unmatched"] == 1, first.text
        (tmp_path / "globex.yaml").write_text("brand: globex\naliases: [Globex]\n")

        async def push() -> httpx.Response:
            return await c.post("/v1/mentions", json=[_item(2, "My Globex oven died")])

        later = await wait_for(push, lambda r: r.status_code == 202, timeout_s=10)
        assert later.json()["items"][0]["status"] == "accepted", later.text
