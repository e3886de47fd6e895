"""Trends, share of voice, rising terms and mention search against stored mentions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.analytics import trends
from services.analytics.schemas import Resolution
from shared.db.engine import transaction
from shared.schemas import MAX_COUNT
from tests.integration.api.conftest import RunningApi
from tests.integration.api.factories import ext, scored, store

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def test_trends_per_hour_and_filters(api: RunningApi, db_engine, unique) -> None:
    acme, rival = f"acme-{unique}", f"globex-{unique}"
    items = [
        scored(
            brand=acme,
            external_id=f"a{i}",
            created_at=T0 + timedelta(minutes=i),
            label="negative" if i < 6 else "positive",
            platform="x" if i % 2 else "reddit",
            language="en" if i < 8 else "de",
            markets=["US"] if i < 8 else ["DE", "AT"],
            topics=["safety"] if i < 3 else [],
        )
        for i in range(10)
    ] + [
        scored(
            brand=acme,
            external_id="late",
            created_at=T0 + timedelta(hours=1, minutes=5),
            label="neutral",
            markets=["US"],
        ),
        scored(brand=rival, external_id="r1", created_at=T0, label="positive"),
    ]
    await store(db_engine, items)
    params = {
        "brand": [acme, rival],
        "start": T0.isoformat(),
        "end": (T0 + timedelta(hours=3)).isoformat(),
        "resolution": "hour",
    }
    async with api.client("viewer") as client:
        resp = await client.get("/v1/trends", params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        series = {s["brand"]: s for s in body["series"]}
        first, second = series[acme]["points"]
        assert first["volume"] == 10 and first["negative"] == 6 and first["positive"] == 4
        assert abs(first["mean_score"] - (6 * -0.7 + 4 * 0.6) / 10) < 1e-6
        assert first["emotions"]["anger"] > 0 and first["engagement"] == 10
        assert second["volume"] == 1 and second["neutral"] == 1
        assert series[rival]["total_volume"] == 1

        # Markets are countries, not languages: `de` is Germany, matched case-insensitively.
        de = (await client.get("/v1/trends", params={**params, "market": "de"})).json()
        assert {s["brand"]: s["total_volume"] for s in de["series"]} == {acme: 2, rival: 0}
        de_points = {s["brand"]: s["points"] for s in de["series"]}[acme]
        assert de_points[0]["positive"] == 2 and de_points[0]["engagement"] == 2
        german = {**params, "language": "de", "market": "US"}
        assert (await client.get("/v1/trends", params=german)).json()["series"][0][
            "total_volume"
        ] == 0  # both filters hold: no German-language mention is in the US market
        safety = (await client.get("/v1/trends", params={**params, "topic": "safety"})).json()
        assert safety["series"][0]["total_volume"] == 3
        reddit = (
            await client.get(
                "/v1/trends", params={**params, "platform": "reddit", "resolution": "minute"}
            )
        ).json()
        assert reddit["series"][0]["total_volume"] == 5  # even i; "late" is on x
        # Hourly rollups: per-dimension rows for filters, the all-dimensions row otherwise.
        hourly_reddit = await client.get("/v1/trends", params={**params, "platform": "reddit"})
        assert hourly_reddit.json()["series"][0]["total_volume"] == 5
        both = {**params, "platform": "x", "market": "US"}
        assert (await client.get("/v1/trends", params=both)).json()["series"][0][
            "total_volume"
        ] == 4 + 1  # odd i < 8, plus "late"

        day = (await client.get("/v1/trends", params={**params, "resolution": "day"})).json()
        assert day["series"][0]["points"][0]["volume"] == 11

        bad = await client.get("/v1/trends", params={**params, "end": params["start"]})
        assert bad.status_code == 422 and "before" in bad.text
        too_long = await client.get(
            "/v1/trends",
            params={**params, "resolution": "minute", "end": (T0 + timedelta(days=30)).isoformat()},
        )
        assert too_long.status_code == 422

        sov = (
            await client.get(
                "/v1/share-of-voice",
                params={
                    "brand": acme,
                    "competitor": rival,
                    "start": params["start"],
                    "end": params["end"],
                },
            )
        ).json()
        shares = {s["brand"]: s for s in sov["shares"]}
        assert shares[acme]["volume"] == 11 and abs(shares[acme]["share"] - 11 / 12) < 1e-3
        assert sov["competitors_from"] == "query"


async def test_trends_body_is_the_model_encoding(
    api: RunningApi, db_engine: AsyncEngine, unique: str
) -> None:
    """The route encodes with orjson; its bytes equal pydantic's encoding of `TrendsRead`."""
    brand, rival = f"café-{unique}", f"globex-{unique}"
    labels = ("negative", "neutral", "positive", None)
    items = [
        scored(
            brand=brand,
            external_id=f"c{i}",
            created_at=T0 + timedelta(minutes=37 * i),
            label=labels[i % 4],
            platform=("x", "reddit")[i % 2],
            language=("en", "de", "fr")[i % 3],
            topics=["safety"] if i % 3 == 0 else [],
            markets=[("US", "DE", "FR")[i % 3]],
            emotions={"anger": 1 / 3, "fear": i / 7, "joy": 0.00005 * i},
            reach=None if i % 5 == 0 else MAX_COUNT - i,  # the largest counts accepted
        )
        for i in range(60)
    ] + [scored(brand=rival, external_id="u", created_at=T0, label=None)]
    await store(db_engine, items)
    span = {"start": T0.isoformat(), "end": (T0 + timedelta(days=2)).isoformat()}
    cases: list[dict[str, str]] = [
        {"resolution": "hour"},  # the stored all-dimensions rows, no grouping
        {"resolution": "hour", "platform": "x", "market": "DE"},
        {"resolution": "minute", "market": "FR", "topic": "safety"},
        {"resolution": "minute", "language": "fr"},
        {"resolution": "day", "topic": "safety"},
        {
            "resolution": "day",
            "start": "2026-11-20T10:17:00+05:30",
            "end": "2026-11-21T03:00:00-05:00",
        },
        {"resolution": "hour", "start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"},
    ]
    async with api.client("viewer") as client:
        for case in cases:
            params = {**span, **case}
            resp = await client.get("/v1/trends", params={"brand": [brand, rival], **params})
            assert resp.status_code == 200, resp.text
            assert resp.headers["content-type"] == "application/json"
            async with transaction(db_engine) as session:
                model = await trends.trends(
                    session,
                    brands=[brand, rival],
                    start=datetime.fromisoformat(params["start"]),
                    end=datetime.fromisoformat(params["end"]),
                    resolution=cast(Resolution, params["resolution"]),
                    topic=params.get("topic", ""),
                    platforms=[params["platform"]] if "platform" in params else [],
                    languages=[params["language"]] if "language" in params else [],
                    markets=[params["market"]] if "market" in params else [],
                )
            assert resp.content == model.model_dump_json().encode(), case
            if case == cases[0]:
                assert model.series[0].total_volume == 60
                assert model.series[1].points[0].mean_score is None  # unscored only
        openapi = (await client.get("/openapi.json")).json()
    ok = openapi["paths"]["/v1/trends"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/TrendsRead"}


async def test_share_of_voice_uses_watchlist_competitors(
    api: RunningApi, db_engine, unique
) -> None:
    acme, rival = f"acme-{unique}", f"globex-{unique}"
    await store(
        db_engine,
        [
            scored(brand=acme, external_id="a", created_at=T0),
            scored(brand=rival, external_id="b", created_at=T0),
            scored(brand=rival, external_id="c", created_at=T0),
        ],
    )
    async with api.client("admin") as admin:
        resp = await admin.put(
            f"/v1/watchlists/{acme}", json={"brand": acme, "competitors": [rival]}
        )
        assert resp.status_code == 201, resp.text
        sov = (
            await admin.get(
                "/v1/share-of-voice",
                params={
                    "brand": acme,
                    "start": T0.isoformat(),
                    "end": (T0 + timedelta(hours=1)).isoformat(),
                },
            )
        ).json()
        # Stored watchlists are live configuration: leave none behind for other tests.
        assert (await admin.delete(f"/v1/watchlists/{acme}")).status_code == 204
    assert sov["competitors_from"] == "watchlist"
    assert {s["brand"]: s["volume"] for s in sov["shares"]} == {acme: 1, rival: 2}


@pytest.mark.parametrize("param", ["brand", "topic", "language", "platform"])
async def test_nul_in_a_filter_is_a_4xx_with_a_reason(api: RunningApi, param: str) -> None:
    """PostgreSQL cannot compare text holding NUL: the driver's error is the client's fault."""
    params: dict[str, str] = {
        "brand": "acme",
        "start": T0.isoformat(),
        "end": (T0 + timedelta(days=1)).isoformat(),
        "resolution": "day",
        param: "bad\x00value",
    }
    async with api.client("viewer") as client:
        resp = await client.get("/v1/trends", params=params)
    assert resp.status_code == 422, resp.text
    assert "invalid characters" in resp.json()["detail"]


async def test_rising_terms(api: RunningApi, db_engine, unique) -> None:
    brand = f"acme-{unique}"
    end = T0 + timedelta(days=8)
    items = []
    for i in range(20):  # baseline week: "kettle" common, "fire" absent
        items.append(
            scored(
                brand=brand,
                external_id=f"b{i}",
                label="neutral",
                created_at=end - timedelta(days=2, hours=i),
                keywords=["kettle"],
                hashtags=["acme"],
            )
        )
    for i in range(10):  # last day: "fire" and #recall appear
        items.append(
            scored(
                brand=brand,
                external_id=f"r{i}",
                created_at=end - timedelta(hours=1, minutes=i),
                keywords=["kettle", "fire"],
                hashtags=["recall"],
            )
        )
    await store(db_engine, items)
    async with api.client("viewer") as client:
        resp = await client.get(
            "/v1/rising-terms", params={"brand": brand, "end": end.isoformat(), "window_hours": 24}
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["recent_mentions"] == 10 and body["baseline_mentions"] == 20
    assert body["keywords"][0]["term"] == "fire"
    assert body["keywords"][0]["recent"] == 10 and body["keywords"][0]["baseline"] == 0
    assert [t["term"] for t in body["hashtags"]] == ["recall"]


async def test_search_pagination_filters_and_csv(api: RunningApi, db_engine, unique) -> None:
    brand = f"acme-{unique}"
    items = [
        scored(
            brand=brand,
            external_id=f"m{i}",
            created_at=T0 + timedelta(seconds=i),
            label="negative" if i % 2 else "positive",
            reach=i * 10,
            text=f"post {i} about 100% cotton_shirts" if i == 7 else f"post {i}",
        )
        for i in range(25)
    ]
    items.append(
        scored(
            brand=brand,
            external_id="formula",
            created_at=T0 - timedelta(hours=1),
            text='=HYPERLINK("http://evil")',
            label="neutral",
        )
    )
    await store(db_engine, items)
    async with api.client("viewer") as client:
        seen: list[int] = []
        cursor = None
        while True:
            params = {"brand": brand, "limit": 10, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/mentions", params=params)).json()
            seen += [m["id"] for m in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 26 == len(set(seen))
        assert all(m["author_id"].startswith("a_") for m in page["items"])
        assert all(m["author_handle"] is None for m in page["items"])

        neg = (
            await client.get(
                "/v1/mentions",
                params={"brand": brand, "sentiment": "negative", "min_reach": 100, "limit": 500},
            )
        ).json()
        assert {ext(m) for m in neg["items"]} == {f"m{i}" for i in range(11, 25, 2)}

        literal = (await client.get("/v1/mentions", params={"brand": brand, "q": "100%"})).json()
        assert [ext(m) for m in literal["items"]] == ["m7"]
        wildcard = (await client.get("/v1/mentions", params={"brand": brand, "q": "_"})).json()
        assert [ext(m) for m in wildcard["items"]] == ["m7"]

        bad = await client.get("/v1/mentions", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422

        as_csv = await client.get(
            "/v1/mentions", params={"brand": brand, "limit": 500}, headers={"Accept": "text/csv"}
        )
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert len(rows) == 26
        formula = next(r for r in rows if r["text"].startswith("'"))
        assert formula["text"] == '\'=HYPERLINK("http://evil")'
        same = await client.get("/v1/mentions", params={"brand": brand, "format": "csv"})
        assert same.text.splitlines()[0].startswith("id,created_at")


async def test_a_market_is_a_country_code(api: RunningApi) -> None:
    """`market` is a country (ISO 3166-1 alpha-2), refused with a reason otherwise."""
    params = {
        "brand": "acme",
        "start": T0.isoformat(),
        "end": (T0 + timedelta(days=1)).isoformat(),
    }
    async with api.client("viewer") as client:
        for bad in ("germany", "bad\x00value", "d1"):
            resp = await client.get("/v1/trends", params={**params, "market": bad})
            assert resp.status_code == 422, resp.text
            assert resp.json()["errors"][0]["loc"] == ["query", "market", 0]
        ok = await client.get("/v1/share-of-voice", params={**params, "market": "de"})
        assert ok.status_code == 200 and ok.json()["total_volume"] == 0
