"""API bench at scale (opt-in: `crisiswatch bench --only api-scale --scale-mentions N`).

Generates N mentions over `days` UTC days straight into PostgreSQL: each day is filled by
one `INSERT ... SELECT generate_series` into a plain table, which is then attached as that
day's partition of `mentions` (ATTACH builds the indexes by sorting, far faster than
growing them row by row). The hourly and daily rollups are aggregated from each day's
rows, as the store would have summed them; the minute rollups and author keys are left
out (no query of this bench reads them). Then the real app is served on 127.0.0.1 and the
90-day hourly trend and the mention search are timed over HTTP, p50 and p95.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.analytics import trends
from services.api.app import create_app
from shared.db import partition_store
from shared.db.engine import create_engine, driver_connection, transaction
from shared.db.partitions import SPEC_BY_TABLE, between, partition_at
from shared.http.keys import create_key
from shared.http.server import serve_app
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure
from tools.demo.receivers import free_port

# The partitions a plan's scans read (index names, which go on after the stamp, left out).
_SCANNED = re.compile(r" on (mentions?\w*?_(?:p\d{4,8}|default))\b")
TARGET_MS = 50.0  # issue 22: the 90-day hourly trend under 50 ms p95 at 100 M mentions
BRANDS = 20
PLATFORMS = ("x", "reddit", "mastodon")
LANGUAGES = ("en", "de")
_PARALLEL_DAYS = 2  # one INSERT per core

# One day of mentions; ids are given (setval at the end) so no sequence call per row.
_FILL_DAY = """
INSERT INTO {table} (id, platform, external_id, brand, brands, url, author_id, author_handle,
    author_reach, text, truncated, language_hint, created_at, ingested_at, scored_at, likes,
    shares, replies, views, hashtags, in_reply_to, quote_of, language, language_confidence,
    sentiment_label, sentiment_score, sentiment_confidence, scorer, emotion, emotions, topics,
    keywords, source, version, markets, story_id)
SELECT :first_id + g, (CAST(:platforms AS text[]))[1 + (g / 7) % 3], :prefix || g, b.brand,
    ARRAY[b.brand], 'https://example.org/p/' || g, 'a_' || (g % 250000), NULL, 100 + g % 5000,
    'the ' || b.brand || ' kettle stopped working after two days, support never answered '
        || 'my ticket #' || g || ' and the refund is still missing', false, NULL, t.at, t.at,
    t.at, g % 40, g % 7, g % 5, 10 * (g % 300), ARRAY['#kettle'], NULL, NULL,
    (CAST(:languages AS text[]))[1 + (g / 3) % 2], 0.98, l.label,
    CASE l.label WHEN 'negative' THEN -0.7 WHEN 'positive' THEN 0.6 ELSE 0.0 END, 0.9,
    'model:bench', 'anger', '{{"anger": 0.6, "joy": 0.1}}', ARRAY['product_safety'],
    ARRAY['kettle', 'refund', 'support'], '{{}}', 1, ARRAY['GB'], NULL
FROM generate_series(1, :count) AS g
CROSS JOIN LATERAL (SELECT (CAST(:brands AS text[]))[1 + g % :brand_count] AS brand) AS b
CROSS JOIN LATERAL (SELECT CAST(:day AS timestamptz)
                           + make_interval(secs => (g - 1) * 86400.0 / :count) AS at) AS t
CROSS JOIN LATERAL (SELECT (ARRAY['negative', 'neutral', 'positive'])[1 + g % 3] AS label) AS l
"""

# The day's hourly rollups, per dimension and summed over them ('*'), from its rows.
_HOURLY = """
INSERT INTO mention_rollups_hourly (brand, hour, topic, platform, language, volume, negative,
    neutral, positive, unscored, sentiment_sum, anger, fear, sadness, joy, surprise, disgust,
    engagement, reach)
SELECT brand, date_trunc('hour', created_at, 'UTC'), '', coalesce(platform, '*'),
    coalesce(language, '*'), count(*),
    count(*) FILTER (WHERE sentiment_label = 'negative'),
    count(*) FILTER (WHERE sentiment_label = 'neutral'),
    count(*) FILTER (WHERE sentiment_label = 'positive'),
    count(*) FILTER (WHERE sentiment_label IS NULL), coalesce(sum(sentiment_score), 0),
    sum((emotions ->> 'anger')::float8), 0, 0, sum((emotions ->> 'joy')::float8), 0, 0,
    sum(likes + shares + replies), sum(coalesce(author_reach, 0))
FROM {table}
GROUP BY GROUPING SETS ((brand, date_trunc('hour', created_at, 'UTC'), platform, language),
                        (brand, date_trunc('hour', created_at, 'UTC')))
"""

_DAILY = """
INSERT INTO mention_rollups_daily (brand, day, topic, platform, language, volume, negative,
    neutral, positive, unscored, sentiment_sum, anger, fear, sadness, joy, surprise, disgust,
    engagement, reach)
SELECT brand, date_trunc('day', hour, 'UTC'), topic, platform, language, sum(volume),
    sum(negative), sum(neutral), sum(positive), sum(unscored), sum(sentiment_sum), sum(anger),
    sum(fear), sum(sadness), sum(joy), sum(surprise), sum(disgust), sum(engagement), sum(reach)
FROM mention_rollups_hourly WHERE hour >= :start AND hour < :end
GROUP BY 1, 2, 3, 4, 5
"""


@dataclass
class ScaleResult:
    """What was generated, how long it took, sizes, timings and plans."""

    mentions: int
    days: int
    generate_s: float
    bytes_per_1000: dict[str, float] = field(default_factory=dict)
    timings_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    plans: dict[str, list[str]] = field(default_factory=dict)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2)}


async def _fill_day(
    engine: AsyncEngine, *, day: datetime, count: int, first_id: int, brands: list[str]
) -> None:
    """Load one day into a plain table, attach it as the day's partition, sum its rollups."""
    part = partition_at(SPEC_BY_TABLE["mentions"], day)
    async with transaction(engine) as session:
        await session.execute(text("SET LOCAL synchronous_commit = off"))
        await session.execute(text(f"CREATE TABLE {part.name} (LIKE mentions INCLUDING DEFAULTS)"))
        await session.execute(
            text(_FILL_DAY.format(table=part.name)).bindparams(
                first_id=first_id,
                platforms=list(PLATFORMS),
                languages=list(LANGUAGES),
                prefix=f"s{day:%Y%m%d}-",
                brands=brands,
                brand_count=len(brands),
                day=day,
                count=count,
            )
        )
        await session.execute(text(_HOURLY.format(table=part.name)))
    async with transaction(engine) as session:
        await session.execute(
            text(
                f"ALTER TABLE mentions ATTACH PARTITION {part.name} FOR VALUES FROM "
                f"('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
            )
        )


async def generate(
    engine: AsyncEngine, *, mentions: int, days: int, end: datetime, brands: list[str]
) -> float:
    """Fill `days` whole UTC days before `end` with `mentions` rows; seconds taken."""
    started = time.perf_counter()
    start = end - timedelta(days=days)
    async with transaction(engine) as session:
        for table in ("mention_rollups_hourly", "mention_rollups_daily", "mention_rollups"):
            spec = SPEC_BY_TABLE[table]
            await partition_store.ensure(session, spec, between(spec, start, end))
    per_day = mentions // days
    gate = asyncio.Semaphore(_PARALLEL_DAYS)

    async def one(i: int) -> None:
        async with gate:
            count = per_day + (mentions % days if i == days - 1 else 0)
            await _fill_day(
                engine,
                day=start + timedelta(days=i),
                count=count,
                first_id=i * per_day,
                brands=brands,
            )

    await asyncio.gather(*(one(i) for i in range(days)))
    async with transaction(engine) as session:
        await session.execute(text(_DAILY).bindparams(start=start, end=end))
        await session.execute(text("SELECT setval('mentions_id_seq', :n)").bindparams(n=mentions))
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("mentions", "mention_rollups_hourly", "mention_rollups_daily"):
            await autocommit.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - started


async def table_bytes_per_1000(engine: AsyncEngine, mentions: int) -> dict[str, float]:
    """Size of each table's partitions (heap, TOAST, indexes) per 1,000 mentions."""
    sizes: dict[str, float] = {}
    async with engine.connect() as conn:
        for table in ("mentions", "mention_rollups_hourly", "mention_rollups_daily"):
            total = await conn.scalar(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                    "WHERE inhparent = CAST(:t AS regclass)"
                ).bindparams(t=table)
            )
            sizes[table] = round(float(total or 0) * 1000 / mentions, 1)
    return sizes


async def _time(repeats: int, run: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    for _ in range(3):  # warm the cache, the connection pool and the prepared statements
        await run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


async def _plans(
    engine: AsyncEngine, brand: str, start: datetime, end: datetime
) -> dict[str, list[str]]:
    sql, args = trends.trend_query(brands=[brand], start=start, end=end, resolution="hour")
    async with transaction(engine) as session:
        conn = await driver_connection(session)
        trend = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        search = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM mentions "
            "WHERE brands @> ARRAY[$1]::varchar[] ORDER BY created_at DESC, id DESC LIMIT 51",
            brand,
        )
    return {"trend_90d_hourly": [r[0] for r in trend], "search_newest": [r[0] for r in search]}


async def run_scale(
    env: BenchEnv, *, mentions: int, days: int = 90, repeats: int = 50
) -> ScaleResult:
    """Generate, then time the trend and search routes of the served app."""
    engine = create_engine(env.base, database=env.database)
    brands = [f"scale-{i}" for i in range(BRANDS)]
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    try:
        generate_s = await generate(engine, mentions=mentions, days=days, end=end, brands=brands)
        result = ScaleResult(mentions, days, round(generate_s, 1))
        result.bytes_per_1000 = await table_bytes_per_1000(engine, mentions)
        async with transaction(engine) as session:
            _, secret = await create_key(session, f"bench-{uuid.uuid4().hex[:6]}", "viewer")
        result.timings_ms = await _time_routes(env, secret, brands[0], start, end, repeats)
        result.plans = await _plans(engine, brands[0], start, end)
        return result
    finally:
        await engine.dispose()


async def _time_routes(
    env: BenchEnv, key: str, brand: str, start: datetime, end: datetime, repeats: int
) -> dict[str, dict[str, float]]:
    api = env.settings(
        ApiSettings, retention_interval_s=0, api_rate_burst=1_000_000, api_rate_per_s=1e6
    )
    app = create_app(api, env.settings(IngestSettings), registry=CollectorRegistry())
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_app(app, host="127.0.0.1", port=port, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"X-API-Key": key}, timeout=30
        ) as client:
            await _ready(client)
            trend = {"brand": brand, "start": start.isoformat(), "end": end.isoformat(),
                     "resolution": "hour"}  # fmt: skip
            day = {"brand": brand, "start": (end - timedelta(days=1)).isoformat(),
                   "end": end.isoformat(), "limit": 50}  # fmt: skip

            async def get(path: str, params: dict[str, Any]) -> None:
                response = await client.get(path, params=params)
                response.raise_for_status()

            return {
                "trend_90d_hourly_1_brand": await _time(repeats, lambda: get("/v1/trends", trend)),
                "search_newest_50": await _time(
                    repeats, lambda: get("/v1/mentions", {"brand": brand, "limit": 50})
                ),
                "search_last_day_50": await _time(repeats, lambda: get("/v1/mentions", day)),
            }
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(server, timeout=30)


async def _ready(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        if loop.time() > deadline:
            raise TimeoutError("the API did not answer /healthz")
        await asyncio.sleep(0.1)


async def scale_figures(env: BenchEnv, *, mentions: int, days: int = 90) -> list[Figure]:
    """The opt-in stage's figures: trend and search latency, generation time, sizes."""
    result = await run_scale(env, mentions=mentions, days=days)
    note = (
        f"{mentions:,} generated mentions over {days} day partitions, {BRANDS} brands; "
        f"through the served app over HTTP (loopback); generated in {result.generate_s:,.0f} s"
    )
    figures = []
    for name, timing in result.timings_ms.items():
        target = TARGET_MS if name.startswith("trend") else None
        for q in ("p50", "p95"):
            figures.append(
                Figure("api-scale", f"{name} {q}", timing[q], "ms", target,
                       "target" if target else None, note)
            )  # fmt: skip
    for table, size in result.bytes_per_1000.items():
        figures.append(Figure("api-scale", f"{table} bytes per 1,000 mentions", size, "B",
                              note="pg_total_relation_size of the partitions (heap, TOAST, "
                              "indexes) / mentions * 1000"))  # fmt: skip
    figures.append(
        Figure("api-scale", "generation mentions/s", mentions / max(result.generate_s, 1e-9),
               "mentions/s", note="INSERT generate_series per day + ATTACH (index build) + "
               "hourly/daily rollups + VACUUM ANALYZE, 2 days at a time")
    )  # fmt: skip
    for name, plan in result.plans.items():
        scanned = {m for line in plan for m in _SCANNED.findall(line)}
        figures.append(
            Figure("api-scale", f"{name} partitions in plan", float(len(scanned)), "tables",
                   note=" | ".join(line.strip() for line in plan[:12]))
        )  # fmt: skip
    return figures
