"""Where a volume series is heading: expected mentions over the next 1, 6 and 24 hours. Pure.

A rise-and-decay model of the story's *excess* over the seasonal expectation (level times
the hour-of-day shape the count detector keeps), in mentions per hour:

    pace now            P = median of the excess rates over the last 30, 60 and 120 minutes
                            and the sustained rate (the lower of the last two 5-minute rates)
    hour k ahead        E_k + P * decay**(k - 1)

so the story's current pace carries through the next hour and then decays back toward the
baseline by `decay` an hour, while the baseline follows the shape of the day. The median
over spans reads a fresh, sustained rise at its new pace, while a single 5-minute blip
moves only the short spans and is not taken for the story's pace. The excess is additive:
a crisis at 3 am is not scaled down by the night, nor tripled by the morning. A series
*below* its expectation over the last hour keeps that shortfall as a share of the
expectation (decaying back the same way), so a broken expectation never projects fewer
than zero mentions nor a shortfall larger than the season. The 80% interval of a
horizon's total is the 10th and 90th percentile of a negative binomial around it (exact
at small counts) whose log-scale variance is the series' own plus the horizon's spread.
The settings were chosen leave-one-series-out (docs/detection.md, "Projection").
Deterministic and strictly online: only bins up to the projection time are read.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from scipy.special import betainc, gammaincc, nbdtrik, pdtrik

from services.alerting.detect.alert import Alert
from services.alerting.detect.counts import CountDetector

HORIZONS_HOURS: tuple[int, ...] = (1, 6, 24)
AHEAD_HOURS = max(HORIZONS_HOURS)
Trend = Literal["rising", "steady", "peaking", "declining"]
_STEADY = 0.1  # a change of the hourly volume under 10% is no trend
_ELEVATED = 1.5  # 1.5x the seasonal expectation is a story still up
_LOW, _HIGH = 0.1, 0.9  # the 80% interval


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    """Settings of the projection (chosen leave-one-series-out, docs/detection.md)."""

    spans_minutes: tuple[float, ...] = (30.0, 60.0, 120.0)  # spans of the pace's median
    sustained_minutes: float = 5.0  # the sustained rate: the lower of the last two of these
    decay: float = 0.5  # share of the excess left an hour later, after the first hour
    # Extra log-scale variance of each horizon's total (HORIZONS_HOURS), for 80% coverage.
    spreads: tuple[float, ...] = (0.4, 0.3, 0.4)


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
    growth_per_hour: float  # fractional change of the hourly volume over the last window
    peak_in_hours: int | None  # hours to the projected peak; 0 when peaked; None: no story
    trend: Trend
    # The story's next 6 hours over 6 times its last hour, the season held at the last
    # hour's expectation (None: stored before it was kept; see `pace_ratio`).
    story_rise: float | None = None
    # The next 6 hours' projected mentions over the season's expectation of those hours
    # (None: stored before it was kept). Severity's "projected to run at 3x usual" reads it.
    usual_multiple: float | None = None

    def outlook(self, hours: int) -> Outlook:
        """The outlook of the horizon of `hours`."""
        return next(o for o in self.outlooks if o.hours == hours)

    def pace_ratio(self) -> float:
        """How much the story is projected to grow: its next 6 hours over 6 times its last
        hour, with the seasonal expectation held at the last hour's, so that a busier time
        of day ahead does not count as growth. With a pace that decays hour by hour this
        stays at or below 1; severity reads `usual_multiple` instead."""
        if self.story_rise is not None:
            return self.story_rise
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
            story_rise=None if data.get("story_rise") is None else float(data["story_rise"]),
            usual_multiple=(
                None if data.get("usual_multiple") is None else float(data["usual_multiple"])
            ),
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
    last = recent[-per_hour:]
    before = recent[-2 * per_hour : -per_hour] if len(recent) >= 2 * per_hour else []
    count, expected = _sums(last, per_hour / max(1, len(last)))
    excess = count - expected
    if excess >= 0:
        pace = _pace(recent, bin_seconds, cfg)
        path = [pace * cfg.decay**k for k in range(AHEAD_HOURS)]  # excess of each hour ahead
        hourly = [max(0.0, e + x) for e, x in zip(ahead, path, strict=False)]
        story = 6 * expected + sum(path[:6])
    else:  # the shortfall, as a share of the expectation, decays back the same way
        short = 1.0 - count / expected
        path = [-short * e * cfg.decay**k for k, e in enumerate(ahead)]
        hourly = [e * (1.0 - short * cfg.decay**k) for k, e in enumerate(ahead)]
        story = 6 * count  # no story to grow: a recovery toward the season is not one
    outlooks = tuple(
        _outlook(h, sum(hourly[:h]), math.expm1(dispersion + spread))
        for h, spread in zip(HORIZONS_HOURS, cfg.spreads, strict=True)
    )
    elevated = count >= _ELEVATED * max(expected, 1.0) and excess >= 1.0
    peak = max(range(AHEAD_HOURS + 1), key=lambda k: excess if k == 0 else path[k - 1])
    previous = _sums(before, 1.0)[0] if before else count
    rate = (count + 0.5) / (previous + 0.5) - 1.0
    return Projection(
        at=at,
        last_hour=float(sum(c for c, _ in recent[-per_hour:])),
        outlooks=outlooks,
        growth_per_hour=round(rate, 4),
        peak_in_hours=peak if elevated else None,
        trend=_trend(rate, elevated),
        story_rise=round(story / (6 * max(count, 1.0)), 4),
        usual_multiple=round(sum(hourly[:6]) / max(sum(ahead[:6]), 1.0), 4),
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


def _sums(bins: Sequence[tuple[float, float]], scale: float) -> tuple[float, float]:
    """Count and expectation of `bins`, per hour."""
    return scale * sum(c for c, _ in bins), scale * sum(e for _, e in bins)


def _pace(recent: Sequence[tuple[float, float]], bin_seconds: int, cfg: ForecastConfig) -> float:
    """The story's excess per hour now: the median of its rates over the spans and the
    sustained rate (the lower of the last two `sustained_minutes` windows)."""
    rates = [_rate(recent[-_bins(m, bin_seconds) :], bin_seconds) for m in cfg.spans_minutes]
    step = _bins(cfg.sustained_minutes, bin_seconds)
    if len(recent) >= 2 * step:
        last, previous = recent[-step:], recent[-2 * step : -step]
        rates.append(min(_rate(last, bin_seconds), _rate(previous, bin_seconds)))
    return statistics.median(rates)


def _rate(bins: Sequence[tuple[float, float]], bin_seconds: int) -> float:
    """The excess of `bins` per hour."""
    if not bins:
        return 0.0
    return sum(c - e for c, e in bins) * 3600 / (len(bins) * bin_seconds)


def _bins(minutes: float, bin_seconds: int) -> int:
    return max(1, round(minutes * 60 / bin_seconds))


def _trend(rate: float, elevated: bool) -> Trend:
    if rate >= _STEADY:
        return "rising"
    if rate <= -_STEADY:
        return "declining"
    return "peaking" if elevated else "steady"


def _outlook(hours: int, mean: float, dispersion: float) -> Outlook:
    """The expectation and the exact 80% interval of a negative binomial (mean, dispersion)."""
    if mean <= 0:
        return Outlook(hours, 0.0, 0, 0)
    if dispersion <= 1e-9:
        low, high = _poisson_ppf(_LOW, mean), _poisson_ppf(_HIGH, mean)
    else:
        r = 1.0 / dispersion
        p = r / (r + mean)
        low, high = _nbinom_ppf(_LOW, r, p), _nbinom_ppf(_HIGH, r, p)
    return Outlook(hours, round(mean, 1), low, high)


# Quantiles from the special functions directly: `scipy.stats` alone takes about half a
# second to import, in every alerting process.
def _poisson_ppf(q: float, mean: float) -> int:
    """The smallest k with P(X <= k) >= q, X ~ Poisson(mean)."""
    return _smallest(q, float(pdtrik(q, mean)), lambda k: float(gammaincc(k + 1, mean)))


def _nbinom_ppf(q: float, r: float, p: float) -> int:
    """The smallest k with P(X <= k) >= q, X ~ NegativeBinomial(r, p) (failures before the
    r-th success, as `scipy.stats.nbinom`)."""
    return _smallest(q, float(nbdtrik(q, r, p)), lambda k: float(betainc(r, k + 1, p)))


def _smallest(q: float, guess: float, cdf: Callable[[int], float]) -> int:
    """The smallest integer k >= 0 with cdf(k) >= q, from a continuous `guess` of it."""
    k = max(0, math.ceil(guess)) if math.isfinite(guess) else 0
    while k > 0 and cdf(k - 1) >= q:
        k -= 1
    while cdf(k) < q:
        k += 1
    return k


def with_projection(
    alert: Alert, det: CountDetector, config: ForecastConfig | None = None
) -> Alert:
    """The alert with the projection of its series in its details (unchanged without one)."""
    inputs = inputs_of(det, alert.ts)
    if inputs is None:
        return alert
    return replace(alert, details={**alert.details, "projection": inputs.project(config).to_dict()})
