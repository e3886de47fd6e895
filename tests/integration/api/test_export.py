"""CSV export streams every matching mention, in bounded chunks, with the search filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.analytics.export import CSV_COLUMNS, MentionExport
from services.analytics.mentions import encode_cursor
from services.analytics.schemas import MentionFilter
from tests.integration.api.conftest import RunningApi
from tests.integration.api.factories import scored, store

ROWS = 20_000


async def _stored(db_engine: AsyncEngine, brand: str, n: int) -> datetime:
    start = datetime.now(UTC) - timedelta(days=2)
    items = [
        scored(
            brand=brand,
            external_id=f"m{i}",
            # Pairs share a timestamp: the keyset must order by (created_at, id), not time alone.
            created_at=start + timedelta(seconds=i // 2),
            label="negative" if i % 3 == 0 else "neutral",
            language="de" if i % 5 == 0 else "en",
            text="=cmd|' /C calc'!A0" if i == 7 else f"post {i}",
            author=f"user{i % 97}",
        )
        for i in range(n)
    ]
    for chunk in range(0, n, 5000):
        await store(db_engine, items[chunk : chunk + 5000])
    return start


async def test_csv_export_streams_every_row(
    api: RunningApi, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"export-{unique}"
    await _stored(db_engine, brand, ROWS)
    params = {"brand": brand, "format": "csv", "limit": 10}
    async with (
        api.client("viewer") as client,
        client.stream("GET", "/v1/mentions", params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "content-length" not in response.headers  # streamed, not built in memory
        body = "".join([part async for part in response.aiter_text()])
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == ROWS  # `limit` sizes JSON pages only
    ids = [int(r["id"]) for r in rows]
    assert len(set(ids)) == ROWS
    keys = [(r["created_at"], int(r["id"])) for r in rows]
    assert keys == sorted(keys, reverse=True)  # newest first, no row twice or skipped
    assert next(r for r in rows if r["text"].startswith("'="))["text"] == "'=cmd|' /C calc'!A0"

    async with api.client("viewer") as client:
        negative_de = await client.get(
            "/v1/mentions",
            params={"brand": brand, "sentiment": "negative", "language": "de"},
            headers={"Accept": "text/csv"},
        )
        bad = await client.get("/v1/mentions", params={**params, "cursor": "nope"})
    filtered = list(csv.DictReader(io.StringIO(negative_de.text)))
    assert len(filtered) == len([i for i in range(ROWS) if i % 3 == 0 and i % 5 == 0])
    assert {(r["sentiment_label"], r["language"]) for r in filtered} == {("negative", "de")}
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]


async def test_export_reads_in_bounded_chunks_after_a_cursor(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"export-{unique}"
    start = await _stored(db_engine, brand, 1_234)
    export = MentionExport(db_engine, MentionFilter(brand=brand), chunk_rows=100)
    blocks = [block async for block in export.stream()]
    assert blocks[0].strip() == ",".join(CSV_COLUMNS)
    sizes = [len(list(csv.reader(io.StringIO(b)))) for b in blocks[1:]]
    assert max(sizes) == 100 and sum(sizes) == 1_234 and len(sizes) == 13

    # After a cursor: only the older rows, as the next JSON page would continue.
    newest = start + timedelta(seconds=1_233 // 2)
    rest = MentionExport(
        db_engine, MentionFilter(brand=brand), cursor=encode_cursor(newest, 0), chunk_rows=100
    )
    body = "".join([block async for block in rest.stream()])
    older = list(csv.DictReader(io.StringIO(body)))
    assert len(older) == 1_232
    assert {r["text"] for r in older}.isdisjoint({"post 1232", "post 1233"})
