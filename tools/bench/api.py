"""API benchmark: p50/p95 of the main trend queries over generated rollups."""

from __future__ import annotations

import gc

from shared.db.engine import create_engine
from shared.heap import freeze_startup_objects
from tools.bench import queries as bench_queries
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure

TARGET_MS = 100.0


async def api_figures(env: BenchEnv, *, mentions: int, days: int, repeats: int) -> list[Figure]:
    """Latency of each trend query; the 100 ms target stands as the ceiling."""
    engine = create_engine(env.base, database=env.database)
    # The API server freezes its start-up heap (services/api/app.py); do the same with this
    # process's heap, which also holds earlier stages' models, so the collector scans a heap
    # of the server's size, not the whole benchmark's.
    freeze_startup_objects()
    try:
        result = await bench_queries.run_bench(
            engine, mentions=mentions, days=days, repeats=repeats
        )
    finally:
        gc.unfreeze()
        await engine.dispose()
    note = f"{mentions:,} mentions over {days} days as rollups ({result.rollup_rows:,} rows)"
    figures = []
    for name, timing in result.timings_ms.items():
        for q in ("p50", "p95"):
            figures.append(
                Figure("api", f"{name} {q}", timing[q], "ms", TARGET_MS, "target (lower is "
                       "better: ratio < 1 meets it)", note)
            )  # fmt: skip
    return figures
