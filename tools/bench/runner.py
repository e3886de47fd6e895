"""`crisiswatch bench [--quick] [--json FILE]`: run every stage, print a table, write JSON."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.progress import Step, steps
from shared.settings.infra import InfraSettings
from tools.bench.env import BenchEnv, bench_env
from tools.bench.figures import Figure

Stage = Callable[[BenchEnv, bool], Awaitable[list[Figure]]]


def machine_info() -> dict[str, Any]:
    """Cores, Python and the versions of the packages that matter."""
    versions: dict[str, str | None] = {}
    for dist in (
        "aiokafka",
        "sqlalchemy",
        "asyncpg",
        "fastapi",
        "torch",
        "transformers",
        "vadersentiment",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "kafka": InfraSettings().kafka_version,
        "versions": versions,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def _model_scoring(env: BenchEnv, quick: bool) -> list[Figure]:
    from shared.settings.sentiment import SentimentSettings
    from tools.bench.scoring import encoder_figure, scoring_figures, story_figures

    n, repeats = (5_000, 1) if quick else (30_000, 3)
    figures = []
    for processes in (2, 1):  # the default (about one per core), then a single process
        # The shipped default: the model tier on every mention of a covered language.
        settings = SentimentSettings(sentiment_enrich_processes=processes)
        found = await scoring_figures(env, n=n, repeats=repeats, settings=settings, path="model")
        figures.extend(found if processes == 2 else found[:1])
    figures.append(encoder_figure(n=n, repeats=repeats, worker_rate=figures[0].value))
    figures.extend(story_figures(n=n, repeats=repeats, worker_rate=figures[0].value))
    return figures


async def _rules_scoring(env: BenchEnv, quick: bool) -> list[Figure]:
    from shared.settings.sentiment import SentimentSettings
    from tools.bench.scoring import scoring_figures

    n, repeats = (5_000, 1) if quick else (30_000, 3)
    # The model tier off: VADER for English, the Chinese model, lexicons elsewhere.
    settings = SentimentSettings(sentiment_encoder="none", sentiment_enrich_processes=2)
    found = await scoring_figures(env, n=n, repeats=repeats, settings=settings, path="rules")
    english = await scoring_figures(
        env, n=n, repeats=repeats, settings=settings, path="rules-en", languages=("en",)
    )
    return [found[0], english[0]]


async def _transformer_scoring(env: BenchEnv, quick: bool) -> list[Figure]:
    from shared.settings.sentiment import SentimentSettings
    from tools.bench.scoring import scoring_figures

    # Route every English mention to the transformer: the path's worst case.
    settings = SentimentSettings(
        sentiment_transformer_enabled=True,
        sentiment_route_confidence_below=1.0,
        sentiment_route_negative=True,
        sentiment_route_reach_at_least=0,
    )
    n, repeats = (1_000, 1) if quick else (4_000, 3)
    figures = await scoring_figures(
        env, n=n, repeats=repeats, settings=settings, path="transformer"
    )
    return [
        Figure(f.stage, f.name, f.value, f.unit, f.ceiling, f.ceiling_name,
               f"{f.note}; every English mention through the default transformer "
               f"({settings.torch_threads()} torch threads per process)", f.runs)
        for f in figures
    ]  # fmt: skip


async def _ingest(env: BenchEnv, quick: bool) -> list[Figure]:
    from tools.bench.ingest import ingest_figures

    n, repeats = (20_000, 1) if quick else (100_000, 3)
    return await ingest_figures(env, n=n, repeats=repeats)


async def _api(env: BenchEnv, quick: bool) -> list[Figure]:
    from tools.bench.api import api_figures

    mentions, days, repeats = (1_000_000, 14, 10) if quick else (10_000_000, 90, 30)
    return await api_figures(env, mentions=mentions, days=days, repeats=repeats)


async def _e2e(env: BenchEnv, quick: bool) -> list[Figure]:
    from tools.bench.e2e import FULL, QUICK, e2e_figures

    return await e2e_figures(env, QUICK if quick else FULL)


async def _alerts(env: BenchEnv, quick: bool) -> list[Figure]:
    from tools.bench.alerts import alert_figures

    return await alert_figures(env, repeats=3 if quick else 10)


async def _memory(env: BenchEnv, quick: bool) -> list[Figure]:
    from tools.bench.memory import memory_figures

    load, repeats = (300, 1) if quick else (2_000, 3)
    return await memory_figures(env, load=load, repeats=repeats)


def _api_scale(mentions: int) -> Stage:
    async def run(env: BenchEnv, quick: bool) -> list[Figure]:
        from tools.bench.scale import scale_figures

        return await scale_figures(env, mentions=mentions)

    return run


# api-scale runs only when named with --only: it takes long and needs disk (docs/capacity.md).
DEFAULT_SCALE_MENTIONS = 10_000_000

STAGES: dict[str, Stage] = {
    "ingest": _ingest,
    "scoring/model": _model_scoring,
    "scoring/rules": _rules_scoring,
    "scoring/transformer": _transformer_scoring,
    "api": _api,
    "e2e": _e2e,
    "alerts": _alerts,
    "memory": _memory,
}


def selected_stages(
    only: list[str] | None, *, scale_mentions: int = DEFAULT_SCALE_MENTIONS
) -> dict[str, Stage]:
    """The stages to run: those whose names start with an `--only` value (all without one);
    api-scale only when named in full."""
    stages = dict(STAGES)
    if only and "api-scale" in only:
        stages["api-scale"] = _api_scale(scale_mentions)
    return {n: s for n, s in stages.items() if not only or any(n.startswith(o) for o in only)}


def render(figures: list[Figure], console: Console) -> None:
    """Print the figures as a table with their ceilings and ratios."""
    table = Table(title="crisiswatch bench", show_lines=False)
    for column in ("stage", "figure", "value", "ceiling", "ratio", "what was measured"):
        table.add_column(column)
    for f in figures:
        ceiling = f"{f.ceiling:,.1f} ({f.ceiling_name})" if f.ceiling is not None else "-"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        table.add_row(f.stage, f.name, f"{f.value:,.1f} {f.unit}", ceiling, ratio, f.note)
    console.print(table)


async def run_bench(
    *,
    quick: bool,
    json_path: Path | None,
    only: list[str] | None = None,
    scale_mentions: int = DEFAULT_SCALE_MENTIONS,
) -> dict[str, Any]:
    """Run the selected stages in one environment; return (and optionally write) the report."""
    console = Console(stderr=True)
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    async with bench_env() as env:
        with steps(console) as step:
            stages = selected_stages(only, scale_mentions=scale_mentions)
            await _run_stages(env, quick, stages, console, step, figures, errors)
    render(figures, Console())
    report = {
        "machine": machine_info(),
        "mode": "quick" if quick else "full",
        "figures": [f.as_json() for f in figures],
        "errors": errors,
    }
    if json_path is not None:
        await asyncio.to_thread(json_path.write_text, json.dumps(report, indent=2))
    return report


async def _run_stages(
    env: BenchEnv,
    quick: bool,
    stages: dict[str, Stage],
    console: Console,
    step: Step,
    figures: list[Figure],
    errors: dict[str, str],
) -> None:
    """Run the selected stages, showing the one under way; a failed stage is reported."""
    for name, stage in stages.items():
        step(f"bench {name} ({'quick' if quick else 'full'})")
        try:
            figures.extend(await stage(env, quick))
        except Exception as exc:  # a failed stage is reported, the others still run
            errors[name] = f"{type(exc).__name__}: {exc}"
            console.log(f"[red]{name} failed: {errors[name]}")
