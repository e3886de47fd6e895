"""Synthetic series for the detector tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

START = datetime(2024, 1, 1, tzinfo=UTC)


def series(
    n: int, level: float, *, seed: int = 0, step_s: int = 60
) -> list[tuple[datetime, float]]:
    """Return `n` Poisson-like counts around `level` with a mild daily cycle."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = START + timedelta(seconds=i * step_s)
        mean = level * (1.0 + 0.3 * ((ts.hour in range(9, 18)) - 0.5))
        out.append((ts, float(max(0, round(rng.gauss(mean, mean**0.5))))))
    return out


@pytest.fixture
def steady() -> list[tuple[datetime, float]]:
    """Three days of per-minute counts around 20 posts per minute."""
    return series(3 * 1440, 20.0)
