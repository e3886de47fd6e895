"""The e2e, alerts and memory bench stages run on tiny inputs and return sane figures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.runner import SERVICES
from shared.settings.infra import InfraSettings
from tools.bench.alerts import alert_figures
from tools.bench.e2e import E2eSizes, e2e_figures
from tools.bench.env import BenchEnv, bench_env
from tools.bench.figures import Figure
from tools.bench.memory import memory_figures


@pytest.fixture
async def env(infra: InfraSettings) -> AsyncIterator[BenchEnv]:
    """A throw-away bench environment (own database, own topics)."""
    async with bench_env(infra) as bench:
        yield bench


def _check(figures: list[Figure], stage: str, names: set[str], unit: str) -> None:
    assert {f.name for f in figures} == names
    for f in figures:
        assert f.stage == stage
        assert f.unit == unit
        assert f.value > 0, f
        assert f.ceiling is not None and f.ceiling > 0, f
        assert f.ratio is not None and f.ratio > 0, f
        assert f.note


@pytest.mark.slow
async def test_e2e_stage_tiny(env: BenchEnv) -> None:
    # A generous grace so the tiny first step is held even on a loaded machine.
    sizes = E2eSizes(steps=(200, 400), step_s=0.5, grace_s=3.0, ceiling_s=0.3, latency_s=0.5)
    figures = await e2e_figures(env, sizes)
    latencies = [f for f in figures if f.unit == "s"]
    _check(latencies, "e2e", {f"accept->visible p{q}" for q in (50, 95, 99)}, "s")
    (rate,) = [f for f in figures if f.unit == "mentions/s"]
    assert rate.name == "sustained mentions/s vs ingest alone"
    assert rate.value in (200, 400)
    assert rate.ceiling is not None and rate.ceiling > 0


@pytest.mark.slow
async def test_alerts_stage_tiny(env: BenchEnv) -> None:
    figures = await alert_figures(env, repeats=1)
    names = {
        f"tipping mention -> {channel} p{q}"
        for channel in ("Slack webhook", "SMTP")
        for q in (50, 95)
    }
    _check(figures, "alerts", names, "s")
    assert all(len(f.runs) == 1 for f in figures)


@pytest.mark.slow
async def test_memory_stage_tiny(env: BenchEnv) -> None:
    figures = await memory_figures(env, load=20, repeats=1)
    names = {f"{name} peak RSS" for name in SERVICES}
    names.add("sentiment peak RSS vs its budget")
    _check(figures, "memory", names, "MiB")
    by_name = {f.name: f for f in figures}
    # the encoder is loaded in each enrichment process: the worker is above the API
    assert by_name["sentiment peak RSS"].value > by_name["api peak RSS"].value
    assert by_name["sentiment peak RSS vs its budget"].ceiling == 1536.0
