"""The day shape pooled across a worker's series, lent to young series as their prior."""

from __future__ import annotations

import pytest

from services.alerting.detect.population import ShapePool, pool_shapes
from services.alerting.detect.season import HOURS, POPULATION_DAY_SHAPE
from services.alerting.detect.spikes import SpikeDetector, preset

# A night-time brand: busiest at 02:00 UTC, quietest at 14:00 (unlike the shipped prior).
NIGHT = tuple(1.0 + 0.8 * (1 if h < 8 else -1 if 10 <= h < 18 else 0) for h in range(HOURS))


def _mature(level: float = 20.0) -> SpikeDetector:
    """A detector whose count path has seen every hour of NIGHT on five days."""
    det = SpikeDetector(preset(bin_seconds=3600))
    det.counts.level = level
    for _ in range(5):
        for h in range(HOURS):
            det.counts.shape.learn(h, level * NIGHT[h], level, 1)
    return det


def test_pool_averages_normalised_profiles() -> None:
    pooled = pool_shapes([[2.0] * HOURS, [1.0] * 12 + [3.0] * 12])
    assert pooled[0] == pytest.approx(0.75) and pooled[-1] == pytest.approx(1.25)


def test_young_series_borrow_the_shape_of_mature_brands() -> None:
    pool = ShapePool()
    young = SpikeDetector(preset(bin_seconds=3600))
    assert pool.due(0.0) and not pool.due(1800.0) and pool.due(3600.0)
    pool.refresh([_mature(), _mature(30.0), _mature(50.0), young])
    mean = sum(NIGHT) / HOURS
    assert pool.shape == pytest.approx([v / mean for v in NIGHT], rel=1e-3)
    for shape in (young.counts.shape, young.sustained.shape, young.souring.shape):
        assert shape.prior == pool.shape
        assert shape.at(2) > shape.at(14)  # judged by the night brands' day from hour one


def test_too_few_or_too_small_mature_series_keep_the_shipped_shape() -> None:
    pool = ShapePool()
    young = SpikeDetector(preset(bin_seconds=3600))
    pool.refresh([_mature(), _mature(), _mature(level=1.0), young])
    assert pool.shape == POPULATION_DAY_SHAPE
    assert young.counts.shape.prior == POPULATION_DAY_SHAPE
