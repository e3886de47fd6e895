"""The query benchmark runs end to end on a tiny input and uses the rollup primary key."""

from __future__ import annotations

from tools.bench.queries import run_bench


async def test_bench_tiny(db_engine) -> None:
    result = await run_bench(db_engine, mentions=20_000, days=2, brand_count=2, repeats=3)
    assert result.rollup_rows == 2 * 2 * 24 * 60 * 6
    assert set(result.timings_ms) >= {"trend_90d_hourly_1_brand", "share_of_voice_90d"}
    plan = "\n".join(result.plan)
    assert "mention_rollups" in plan and "Execution Time" in plan, plan
