"""Benchmark of the trend queries: synthesize rollups for N mentions, time p50/p95, EXPLAIN.

Rows are generated inside PostgreSQL with `INSERT ... SELECT generate_series` (fast), for
brands named `bench-<run>-<i>`, and deleted afterwards. Each trend timing covers what the
route does: the rollup read and the encoded JSON body (`trends.trends_json`). Run by
`make bench`, not by tests (tests call it with a tiny N).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.analytics import trends, voice
from services.analytics.ranges import align_range
from services.sentiment.store import rebuild_coarse_rollups
from shared.db import partition_store
from shared.db.engine import driver_connection, transaction
from shared.db.models import DailyRollupRow, HourlyRollupRow, RollupRow
from shared.db.partitions import SPECS, between

PLATFORMS = ("x", "reddit", "mastodon")
LANGUAGES = ("en", "de")

_GENERATE = text(
    """
    INSERT INTO mention_rollups (brand, minute, topic, platform, language, volume, negative,
        neutral, positive, unscored, sentiment_sum, anger, fear, sadness, joy, surprise,
        disgust, engagement, reach, distinct_authors)
    SELECT b.brand, m.minute, '', p.platform, l.language,
        v.volume, v.volume / 3, v.volume / 3, v.volume - 2 * (v.volume / 3), 0,
        (random() - 0.5) * v.volume, random() * v.volume, 0, 0, random() * v.volume, 0, 0,
        v.volume * 4, v.volume * 500, v.volume
    FROM unnest(CAST(:brands AS varchar[])) AS b(brand)
    CROSS JOIN generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz),
                               interval '1 minute') AS m(minute)
    CROSS JOIN unnest(CAST(:platforms AS varchar[])) AS p(platform)
    CROSS JOIN unnest(CAST(:languages AS varchar[])) AS l(language)
    CROSS JOIN LATERAL (SELECT CAST(floor(random() * :mean * 2) AS int) + 1 AS volume
                        WHERE m.minute IS NOT NULL) AS v
    """
)


@dataclass
class BenchResult:
    """Timings (milliseconds) per query and the plan of the main trend query."""

    mentions: int
    rollup_rows: int
    generate_s: float
    timings_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


async def generate_rollups(
    engine: AsyncEngine, *, brands: list[str], mentions: int, days: int, end: datetime
) -> int:
    """Insert per-minute rollups for `brands` over `days` summing to about `mentions`."""
    start = end - timedelta(days=days)
    rows = len(brands) * days * 24 * 60 * len(PLATFORMS) * len(LANGUAGES)
    mean = max(0.0, mentions / rows - 1)  # volume = floor(random * 2 * mean) + 1
    async with transaction(engine) as session:
        # The partitions of the range first, as the services create them ahead of the rows.
        for spec in SPECS:
            if spec.table.startswith("mention_rollups"):
                await partition_store.ensure(session, spec, between(spec, start, end))
    async with transaction(engine) as session:
        await session.execute(
            _GENERATE.bindparams(
                brands=brands,
                start=start,
                end=end - timedelta(minutes=1),
                platforms=list(PLATFORMS),
                languages=list(LANGUAGES),
                mean=mean,
            )
        )
        # Statistics first: without them the planner joins the coarse rebuild's keys to the
        # new minute partitions with a nested loop over each brand's rows (minutes, not ms).
        await session.execute(text("ANALYZE mention_rollups"))
        # The hourly and daily tables are derived from the minutes, as the store does.
        minutes = (end - start).days * 24 * 60
        keys = [(b, start + timedelta(minutes=i)) for b in brands for i in range(0, minutes, 60)]
        await rebuild_coarse_rollups(session, keys)
        for table in ("mention_rollups", "mention_rollups_hourly", "mention_rollups_daily"):
            await session.execute(text(f"ANALYZE {table}"))
    return rows


async def _time(repeats: int, run: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    await run()  # warm the cache and the prepared statement
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


async def run_bench(
    engine: AsyncEngine,
    *,
    mentions: int = 10_000_000,
    days: int = 90,
    brand_count: int = 5,
    repeats: int = 30,
    keep: bool = False,
) -> BenchResult:
    """Generate data, time the main trend queries, return p50/p95 and the EXPLAIN plan."""
    run_id = uuid.uuid4().hex[:6]
    brands = [f"bench-{run_id}-{i}" for i in range(brand_count)]
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    rows = await generate_rollups(engine, brands=brands, mentions=mentions, days=days, end=end)
    result = BenchResult(
        mentions=mentions, rollup_rows=rows, generate_s=round(time.perf_counter() - started, 2)
    )
    start = end - timedelta(days=days)
    try:
        async with transaction(engine) as session:

            async def hourly() -> Any:
                return await trends.trends_json(
                    session, brands=brands[:1], start=start, end=end, resolution="hour"
                )

            async def daily_compare() -> Any:
                return await trends.trends_json(
                    session, brands=brands[:3], start=start, end=end, resolution="day"
                )

            async def filtered() -> Any:
                return await trends.trends_json(
                    session,
                    brands=brands[:1],
                    start=start,
                    end=end,
                    resolution="hour",
                    platforms=["x"],
                    languages=["de"],
                )

            async def minute_day() -> Any:
                return await trends.trends_json(
                    session,
                    brands=brands[:1],
                    start=end - timedelta(days=1),
                    end=end,
                    resolution="minute",
                )

            async def share() -> Any:
                return await voice.share_of_voice(
                    session, brand=brands[0], competitors=brands[1:], start=start, end=end
                )

            for name, fn in (
                ("trend_90d_hourly_1_brand", hourly),
                ("trend_90d_daily_3_brands", daily_compare),
                ("trend_90d_hourly_filtered", filtered),
                ("trend_1d_minute", minute_day),
                ("share_of_voice_90d", share),
            ):
                result.timings_ms[name] = await _time(repeats, fn)
            aligned_start, aligned_end = align_range(start, end, "hour")
            sql, args = trends.trend_query(
                brands=brands[:1], start=aligned_start, end=aligned_end, resolution="hour"
            )
            conn = await driver_connection(session)
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
            result.plan = [str(r[0]) for r in plan]
    finally:
        if not keep:
            async with transaction(engine) as session:
                for model in (RollupRow, HourlyRollupRow, DailyRollupRow):
                    await session.execute(delete(model).where(model.brand.in_(brands)))
    return result


def bench_cli(mentions: int = 10_000_000, days: int = 90, repeats: int = 30) -> int:
    """`crisiswatch bench queries`: print timings and the plan; exit 1 when p95 >= 100 ms."""
    import asyncio
    import json

    from shared.db.engine import create_engine
    from shared.settings.api import ApiSettings

    async def main() -> BenchResult:
        engine = create_engine(ApiSettings())
        try:
            return await run_bench(engine, mentions=mentions, days=days, repeats=repeats)
        finally:
            await engine.dispose()

    result = asyncio.run(main())
    print(
        json.dumps(
            {
                "mentions": result.mentions,
                "rollup_rows": result.rollup_rows,
                "generate_s": result.generate_s,
                "timings_ms": result.timings_ms,
            },
            indent=2,
        )
    )
    print("\n".join(result.plan))
    main_p95 = result.timings_ms["trend_90d_hourly_1_brand"]["p95"]
    return 0 if main_p95 < 100 else 1
