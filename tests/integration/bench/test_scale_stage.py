"""The opt-in api-scale bench stage on a tiny input: day partitions attached, counts exact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from shared.db.engine import create_engine
from shared.settings.infra import InfraSettings
from tools.bench.env import BenchEnv, bench_env
from tools.bench.scale import BRANDS, scale_figures


@pytest.fixture
async def env(infra: InfraSettings) -> AsyncIterator[BenchEnv]:
    """A throw-away bench environment (own database, own topics)."""
    async with bench_env(infra) as bench:
        yield bench


@pytest.mark.slow
async def test_scale_stage_tiny(env: BenchEnv) -> None:
    figures = {f.name: f for f in await scale_figures(env, mentions=3_001, days=3)}
    for name in ("trend_90d_hourly_1_brand", "search_newest_50", "search_last_day_50"):
        for q in ("p50", "p95"):
            assert figures[f"{name} {q}"].value > 0
    assert figures["trend_90d_hourly_1_brand p95"].ceiling == 50.0
    assert figures["mentions bytes per 1,000 mentions"].value > 0
    # The trend read the hourly partitions of its range only; the search every day's.
    assert figures["trend_90d_hourly partitions in plan"].value in (1.0, 2.0)
    assert figures["search_newest partitions in plan"].value >= 3.0

    engine = create_engine(env.base, database=env.database)
    try:
        async with engine.connect() as conn:
            placed = dict(
                (
                    await conn.execute(
                        text("SELECT tableoid::regclass::text, count(*) FROM mentions GROUP BY 1")
                    )
                ).all()
            )
            hourly = await conn.scalar(
                text(
                    "SELECT sum(volume) FROM mention_rollups_hourly "
                    "WHERE platform = '*' AND language = '*'"
                )
            )
            brands = await conn.scalar(text("SELECT count(DISTINCT brand) FROM mentions"))
    finally:
        await engine.dispose()
    assert len(placed) == 3 and all(name.startswith("mentions_p") for name in placed)
    assert sum(placed.values()) == 3_001 and hourly == 3_001
    assert brands == BRANDS
