"""Where a volume series is heading: expected mentions over the next 1, 6 and 24 hours. Pure.

The model works on the *excess* of the series over its seasonal expectation (level times
the hour-of-day shape the count detector keeps), on the log scale:

    excess now        L = log((C + 0.5) / (E + 0.5))  over the last `window_minutes`
    growth per hour   g = (L - L_before) / window hours (0 without the window before)
    k hours ahead     l_k = L * decay**k + g * (damping + damping**2 + ... + damping**k)

so a crisis decays back toward its baseline (`decay` per hour) while its recent trend
carries on, damped. Expected mentions of hour k are (E_k + 0.5) * exp(l_k) - 0.5 with E_k
the seasonal expectation of that hour. The 80% interval of a horizon's total is the 10th
and 90th percentile of a negative binomial around it (exact at small counts) whose
dispersion is the series' own plus `spread` growing with the horizon. The three settings
were chosen leave-one-series-out (docs/detection.md, "Projection"). Deterministic and
strictly online: only bins up to the projection time are read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from scipy.stats import nbinom, poisson

from services.alerting.detect.alert import Alert
from services.alerting.detect.counts import CountDetector

HORIZONS_HOURS: tuple[int, ...] = (1, 6, 24)
AHEAD_HOURS = max(HORIZONS_HOURS)
Trend = Literal["rising", "steady", "peaking", "declining"]
_STEADY_GROWTH = math.log(1.1)  # |growth| under 10%/h is no trend
_ELEVATED = math.log(1.5)  # 1.5x the seasonal expectation is a story still up
_LOW, _HIGH = 0.1, 0.9  # the 80% interval
_MAX_LOG = math.log(1000.0)  # a projection stays within 1/1000x-1000x of the season


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    """Settings of the projection (chosen leave-one-series-out, docs/detection.md)."""

    window_minutes: float = 60.0
    decay: float = 0.85  # share of the log excess left after one hour
    damping: float = 0.0  # share of the growth carried into each further hour
    spread: float = 0.1  # extra log-scale variance per hour of horizon


@dataclass(frozen=True, slots=True)
class Outlook:
    """Expected mentions over the next `hours`, with the 80% interval."""

    hours: int
    expected: float
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Projection:
    """Where a series is heading at `at`: horizons, growth, peak and the trend in one word."""

    at: datetime
    last_hour: float  # mentions in the hour before `at`
    outlooks: tuple[Outlook, ...]
    growth_per_hour: float  # fractional change per hour of the excess over the season
    peak_in_hours: int | None  # hours to the projected peak; 0 when peaked; None: no story
    trend: Trend

    def outlook(self, hours: int) -> Outlook:
        """The outlook of the horizon of `hours`."""
        return next(o for o in self.outlooks if o.hours == hours)

    def pace_ratio(self) -> float:
        """The next 6 hours' projected mentions over 6 times the last hour's (floor 1)."""
        return self.outlook(6).expected / (6 * max(self.last_hour, 1.0))

    def line(self) -> str:
        """One line for a notification: next 6 h with its interval, trend, peak."""
        six = self.outlook(6)
        parts = [f"~{six.expected:,.0f} mentions next 6 h (80%: {six.low:,}-{six.high:,})"]
        pct = f"{abs(self.growth_per_hour):.0%}/h"
        if self.trend == "rising":
            parts.append(f"rising {pct}")
            if self.peak_in_hours:
                parts.append(f"peak in ~{self.peak_in_hours} h")
            else:
                parts.append("projected to ease from here")
        elif self.trend == "declining":
            parts.append(f"declining {pct}")
        elif self.trend == "peaking":
            parts.append("peaking now")
        else:
            parts.append("steady")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (timestamp as ISO 8601)."""
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["outlooks"] = [asdict(o) for o in self.outlooks]
        data["line"] = self.line()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Projection:
        """Rebuild from `to_dict` output."""
        return cls(
            at=datetime.fromisoformat(str(data["at"])),
            last_hour=float(data["last_hour"]),
            outlooks=tuple(
                Outlook(int(o["hours"]), float(o["expected"]), int(o["low"]), int(o["high"]))
                for o in data["outlooks"]
            ),
            growth_per_hour=float(data["growth_per_hour"]),
            peak_in_hours=None if data["peak_in_hours"] is None else int(data["peak_in_hours"]),
            trend=data["trend"],
        )


def project(
    at: datetime,
    recent: Sequence[tuple[float, float]],
    ahead: Sequence[float],
    *,
    bin_seconds: int,
    dispersion: float = 0.0,
    config: ForecastConfig | None = None,
) -> Projection:
    """Project a series from its recent bins and the seasonal expectation of the hours ahead.

    `recent`: (count, expected count) of the latest bins, oldest first; `ahead`: the
    seasonal expectation of each of the next 24 hours; `dispersion`: the series' own
    extra-Poisson variance on the log scale (0: Poisson).
    """
    cfg = config or ForecastConfig()
    per_hour = max(1, round(3600 / bin_seconds))
    span = max(1, round(cfg.window_minutes * 60 / bin_seconds))
    window_hours = span * bin_seconds / 3600
    last = recent[-span:]
    before = recent[-2 * span : -span] if len(recent) >= 2 * span else []
    excess = _log_excess(last)
    growth = (excess - _log_excess(before)) / window_hours if before else 0.0
    path = [
        _clamp(excess * cfg.decay**k + growth * sum(cfg.damping**j for j in range(1, k + 1)))
        for k in range(1, AHEAD_HOURS + 1)
    ]
    hourly = [max(0.0, (e + 0.5) * math.exp(lk) - 0.5) for e, lk in zip(ahead, path, strict=False)]
    outlooks = tuple(
        _outlook(h, sum(hourly[:h]), math.expm1(dispersion + cfg.spread * h))
        for h in HORIZONS_HOURS
    )
    peak = max(range(AHEAD_HOURS + 1), key=lambda k: excess if k == 0 else path[k - 1])
    elevated = max(excess, *path) >= _ELEVATED
    trend = _trend(growth, excess, elevated)
    return Projection(
        at=at,
        last_hour=float(sum(c for c, _ in recent[-per_hour:])),
        outlooks=outlooks,
        growth_per_hour=round(math.exp(growth) - 1.0, 4),
        peak_in_hours=peak if elevated else None,
        trend=trend,
    )


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a projection reads of a series at one time (see `project`)."""

    at: datetime
    recent: tuple[tuple[float, float], ...]
    ahead: tuple[float, ...]
    bin_seconds: int
    dispersion: float

    def project(self, config: ForecastConfig | None = None) -> Projection:
        """The projection of these inputs."""
        return project(
            self.at,
            self.recent,
            self.ahead,
            bin_seconds=self.bin_seconds,
            dispersion=self.dispersion,
            config=config,
        )


def inputs_of(det: CountDetector, at: datetime) -> Inputs | None:
    """The inputs of a count detector's series: its window, seasonal level and dispersion.

    None before it has learned a level.
    """
    cfg = det.config
    if det.level is None or not det.window:
        return None
    per_hour = max(1, round(3600 / cfg.bin_seconds))
    epoch = at.timestamp()
    ahead = tuple(
        det.level * det.shape.at(int((epoch + (k - 0.5) * 3600) // 3600) % 24) * per_hour
        for k in range(1, AHEAD_HOURS + 1)
    )
    hourly = 60.0 in cfg.horizons_minutes
    dispersion = det.horizons[cfg.horizons_minutes.index(60.0)].dispersion() if hourly else 0.0
    recent = tuple((count, mult * level) for count, mult, level in det.window)
    return Inputs(at, recent, ahead, cfg.bin_seconds, dispersion)


def _log_excess(bins: Sequence[tuple[float, float]]) -> float:
    if not bins:
        return 0.0
    count = sum(c for c, _ in bins)
    expected = sum(e for _, e in bins)
    return math.log((count + 0.5) / (expected + 0.5))


def _clamp(log_ratio: float) -> float:
    return min(_MAX_LOG, max(-_MAX_LOG, log_ratio))


def _trend(growth: float, excess: float, elevated: bool) -> Trend:
    if growth >= _STEADY_GROWTH:
        return "rising"
    if growth <= -_STEADY_GROWTH and excess > 0:
        return "declining"
    if elevated and excess >= _ELEVATED:
        return "peaking"
    return "steady"


def _outlook(hours: int, mean: float, dispersion: float) -> Outlook:
    """The expectation and the exact 80% interval of a negative binomial (mean, dispersion)."""
    if mean <= 0:
        return Outlook(hours, 0.0, 0, 0)
    if dispersion <= 1e-9:
        low, high = poisson.ppf(_LOW, mean), poisson.ppf(_HIGH, mean)
    else:
        r = 1.0 / dispersion
        p = r / (r + mean)
        low, high = nbinom.ppf(_LOW, r, p), nbinom.ppf(_HIGH, r, p)
    return Outlook(hours, round(mean, 1), int(low), int(high))


def with_projection(
    alert: Alert, det: CountDetector, config: ForecastConfig | None = None
) -> Alert:
    """The alert with the projection of its series in its details (unchanged without one)."""
    inputs = inputs_of(det, alert.ts)
    if inputs is None:
        return alert
    return replace(alert, details={**alert.details, "projection": inputs.project(config).to_dict()})
