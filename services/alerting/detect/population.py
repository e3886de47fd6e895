"""The shape of the day pooled live across a worker's series, for young series to borrow.

Every hour, the hour-of-day profiles of the series that have seen each hour on
`mature_days` days and carry at least `min_per_hour` mentions an hour are averaged
(each normalised to mean 1); with `min_series` of them, that pooled shape becomes the
prior of every series' day shapes (count path and sustained path), so a brand added
today starts from the shape of the brands the worker knows rather than from a constant.
A series moves from the prior to its own shape as it sees each hour (`season.DayShape`).
Work: O(series) once an hour.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.alerting.detect.season import HOURS, POPULATION_DAY_SHAPE, DayShape
from services.alerting.detect.spikes import SpikeDetector


class ShapePool:
    """Pools the day shape of mature series; lends it to every series as its prior."""

    def __init__(
        self,
        fallback: tuple[float, ...] = POPULATION_DAY_SHAPE,
        *,
        min_series: int = 3,
        mature_days: float = 3.0,
        min_per_hour: float = 10.0,
    ) -> None:
        self.shape = fallback
        self.min_series = min_series
        self.mature_days = mature_days
        self.min_per_hour = min_per_hour
        self.hour: int | None = None

    def due(self, epoch: float) -> bool:
        """True once per hour of bin time."""
        hour = int(epoch // 3600)
        if hour == self.hour:
            return False
        self.hour = hour
        return True

    def refresh(self, detectors: Iterable[SpikeDetector]) -> None:
        """Pool the mature series' own shapes and lend the result to every series."""
        dets = list(detectors)
        own = [_own(d.counts.shape) for d in dets if self._mature(d)]
        if len(own) >= self.min_series:
            self.shape = pool_shapes(own)
        for det in dets:
            for shape in (det.counts.shape, det.sustained.shape, det.souring.shape):
                shape.set_prior(self.shape)

    def _mature(self, det: SpikeDetector) -> bool:
        counts = det.counts
        per_hour = (counts.level or 0.0) * 3600 / counts.config.bin_seconds
        return per_hour >= self.min_per_hour and min(counts.shape.seen) >= self.mature_days


def pool_shapes(shapes: Iterable[list[float]]) -> tuple[float, ...]:
    """Return the mean of hour-of-day profiles, each normalised to mean 1."""
    rows = []
    for shape in shapes:
        mean = sum(shape) / HOURS
        if mean > 0:
            rows.append([v / mean for v in shape])
    if not rows:
        return POPULATION_DAY_SHAPE
    return tuple(round(sum(r[h] for r in rows) / len(rows), 4) for h in range(HOURS))


def _own(shape: DayShape) -> list[float]:
    """The series' own multipliers (no prior), where every hour has been seen."""
    return [c / lv if lv > 0 else 1.0 for c, lv in zip(shape.counts, shape.levels, strict=True)]
