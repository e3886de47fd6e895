"""Benchmark figures: a measured value, the ceiling measured in the same run, and their ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One reported number; `ceiling` is what the same machine does with no product code."""

    stage: str
    name: str
    value: float
    unit: str
    ceiling: float | None = None
    ceiling_name: str | None = None
    note: str = ""
    runs: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """value / ceiling, when a ceiling was measured."""
        if self.ceiling in (None, 0):
            return None
        return self.value / float(self.ceiling or 1)

    def as_json(self) -> dict[str, Any]:
        """JSON-able form, with the ratio."""
        out = asdict(self)
        out["ratio"] = self.ratio
        return out


async def median_rate(
    run_once: Callable[[], Awaitable[tuple[int, float]]], *, repeats: int, warmup: bool = True
) -> tuple[float, list[float]]:
    """Median items/s over `repeats` runs of `run_once` (returns items, seconds); warm up first."""
    if warmup:
        await run_once()
    rates = []
    for _ in range(repeats):
        items, seconds = await run_once()
        rates.append(items / seconds if seconds > 0 else 0.0)
    return statistics.median(rates), rates


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


class Stopwatch:
    """Wall-clock seconds since construction."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Elapsed seconds."""
        return time.perf_counter() - self._start
