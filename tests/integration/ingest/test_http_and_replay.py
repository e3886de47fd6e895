"""Signed pushes and Meta webhooks through the ingest app; replay of a JSONL file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import CollectorRegistry

from services.ingest.component import IngestComponent
from services.ingest.core.watchlist import Watchlist, WatchlistStore
from services.ingest.service import create_ingest_app
from services.ingest.sources.push_auth import hub_signature, sign
from services.ingest.sources.replay import run_replay
from shared.schemas import Mention
from shared.settings.ingest import IngestSettings
from tests.benchmarks.make_replay_sample import write_sample
from tests.integration.ingest.conftest import ACME
from tests.kafka_helpers import read_topic

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
        webhook_secret="push-secret-123",
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
