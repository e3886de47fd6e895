"""Scenario benchmark for the volume detector: known ground truth made from real series.

Pure and seeded. From a real `(ts, count)` series (or `synthetic_base`) it makes cases of
the four patterns the detector must handle, each with the windows where an alert is a
catch: `young` (the series starts 6-48 hours before a crisis), `low_volume` (binomial
thinning to 1/10, 1/50 or 1/200, then 10-20 extra mentions per 5 minutes for 30-60
minutes), `slow_burn` (volume grows x1.5-x3 over 6-24 hours, holds, then falls back),
`level_shift` (x1.5-x3 for good: one alert in its first day is allowed, later ones are
false) and `other_zone` (the series' timestamps moved 6-12 hours, so its day is unlike
the population prior's, as a brand in another time zone; after 7-8 days of it, a slow
burn as above). Alerts inside `ignore` windows (the real series' own labelled anomalies,
moved with the series) count neither way. `young_windows` makes no injection: each real
labelled window, judged by a detector whose series starts 1-7 days before it (a brand
added to the watchlist days before its real crisis).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.alerting.detect.season import POPULATION_DAY_SHAPE

Points = list[tuple[datetime, float]]
Window = tuple[datetime, datetime]
FAMILIES: tuple[str, ...] = ("young", "low_volume", "slow_burn", "level_shift", "other_zone")
_DAY = 86400
YOUNG_WINDOW_DAYS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 7.0)


@dataclass(frozen=True, slots=True)
class Case:
    """One scenario: a series, where an alert counts as a catch, and where it counts not."""

    family: str
    name: str
    points: Points
    onset: datetime
    windows: list[Window]
    ignore: list[Window] = field(default_factory=list)


def population_day_shape(series: list[Points]) -> tuple[float, ...]:
    """Return the mean hour-of-day (UTC) profile of `series`, each normalised to mean 1."""
    profiles = []
    for points in series:
        sums, counts = [0.0] * 24, [0] * 24
        for ts, value in points:
            sums[ts.hour] += value
            counts[ts.hour] += 1
        hourly = [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]
        mean = sum(hourly) / 24
        if mean > 0:
            profiles.append([h / mean for h in hourly])
    if not profiles:
        return (1.0,) * 24
    return tuple(round(sum(p[h] for p in profiles) / len(profiles), 3) for h in range(24))


def synthetic_base(
    days: float, mean: float, *, seed: int, bin_seconds: int = 300, dispersion: float = 0.05
) -> Points:
    """Return a calm series: negative-binomial counts around `mean` with the population's day."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i in range(round(days * _DAY / bin_seconds)):
        ts = start + timedelta(seconds=i * bin_seconds)
        cycle = POPULATION_DAY_SHAPE[ts.hour]
        lam = mean * cycle * (rng.gammavariate(1 / dispersion, dispersion) if dispersion else 1)
        out.append((ts, float(_poisson(rng, lam))))
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    """Draw a Poisson count (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _thin(rng: random.Random, points: Points, keep: float) -> Points:
    return [(ts, float(sum(rng.random() < keep for _ in range(int(v))))) for ts, v in points]


def _scale(rng: random.Random, points: Points, lift: list[float]) -> Points:
    """Return the series with each count lifted by `lift[i]` (extra mentions Poisson)."""
    return [
        (ts, v + _poisson(rng, (f - 1.0) * max(v, 0.5)))
        for (ts, v), f in zip(points, lift, strict=True)
    ]


def _segment(rng: random.Random, points: Points, days: float, bin_s: int) -> Points:
    n = round(days * _DAY / bin_s)
    start = rng.randrange(0, max(1, len(points) - n))
    return points[start : start + n]


def make_case(family: str, base: Points, *, seed: int, ignore: list[Window] | None = None) -> Case:
    """Return one seeded case of `family` made from the real or synthetic series `base`."""
    rng = random.Random(seed)
    bin_s = round((base[1][0] - base[0][0]).total_seconds())
    per_hour = 3600 // bin_s
    ignore = list(ignore or [])
    if family == "young":
        onset_h = rng.uniform(6, 48)
        seg = _segment(rng, base, onset_h / 24 + 3, bin_s)
        at, hold = round(onset_h * per_hour), rng.randint(per_hour, 3 * per_hour)
        factor = rng.uniform(3, 6)
        lift = [factor if at <= i < at + hold else 1.0 for i in range(len(seg))]
        points, end_h = _scale(rng, seg, lift), hold / per_hour + 2
    elif family == "low_volume":
        keep = rng.choice((1 / 10, 1 / 50, 1 / 200))
        seg = _thin(rng, _segment(rng, base, 7, bin_s), keep)
        at, hold = rng.randrange(3 * 24 * per_hour, 6 * 24 * per_hour), rng.randint(6, 12)
        extra = rng.uniform(10, 20) * bin_s / 300
        points = [
            (ts, v + (_poisson(rng, extra) if at <= i < at + hold * 300 // bin_s else 0))
            for i, (ts, v) in enumerate(seg)
        ]
        end_h = hold * 300 / 3600 + 2
    elif family == "slow_burn":
        seg = _segment(rng, base, 7, bin_s)
        at = rng.randrange(3 * 24 * per_hour, 5 * 24 * per_hour)
        ramp, hold = round(rng.uniform(6, 24) * per_hour), 6 * per_hour
        factor = rng.uniform(1.5, 3.0)
        lift = [_burn(i - at, ramp, hold, factor) for i in range(len(seg))]
        points, end_h = _scale(rng, seg, lift), (ramp + hold) / per_hour
    elif family == "other_zone":
        move = timedelta(hours=rng.randint(6, 12))
        seg = [(ts + move, v) for ts, v in _segment(rng, base, 10, bin_s)]
        ignore = [(a + move, b + move) for a, b in ignore]
        at = rng.randrange(7 * 24 * per_hour, 8 * 24 * per_hour)
        ramp, hold = round(rng.uniform(6, 24) * per_hour), 6 * per_hour
        factor = rng.uniform(1.5, 3.0)
        lift = [_burn(i - at, ramp, hold, factor) for i in range(len(seg))]
        points, end_h = _scale(rng, seg, lift), (ramp + hold) / per_hour
    elif family == "level_shift":
        seg = _segment(rng, base, 9, bin_s)
        at = rng.randrange(2 * 24 * per_hour, 3 * 24 * per_hour)
        factor = rng.uniform(1.5, 3.0)
        lift = [factor if i >= at else 1.0 for i in range(len(seg))]
        points, end_h = _scale(rng, seg, lift), 24.0
    else:
        raise ValueError(f"unknown scenario family {family!r}")
    onset = points[at][0]
    window = (onset, onset + timedelta(hours=end_h))
    return Case(family, f"{family}-{seed}", points, onset, [window], ignore)


def young_windows(
    points: Points, windows: list[Window], days: tuple[float, ...] = YOUNG_WINDOW_DAYS
) -> list[Case]:
    """Return each labelled window of a real series as seen `days` days after it started.

    The series is cut to start that long before the window (a window with less history
    before it is skipped for that age) and to end with the window; its other labelled
    windows are ignored, as in the NAB scoring.
    """
    cases = []
    for a, b in windows:
        others = [w for w in windows if w != (a, b)]
        for age in days:
            start = a - timedelta(days=age)
            if start < points[0][0]:
                continue
            seg = [(ts, v) for ts, v in points if start <= ts <= b]
            name = f"nab_young-{a:%Y%m%dT%H%M}-{age:g}d"
            cases.append(Case("nab_young", name, seg, a, [(a, b)], others))
    return cases


def _burn(k: int, ramp: int, hold: int, factor: float) -> float:
    if k < 0 or k >= ramp + hold:
        return 1.0
    return 1.0 + (factor - 1.0) * min(1.0, k / ramp)


def score_case(case: Case, alerts: list[datetime]) -> tuple[bool, int, float | None]:
    """Return (caught, false alerts, minutes from onset to the first catching alert)."""
    caught_at = next((t for t in alerts if any(a <= t <= b for a, b in case.windows)), None)
    false = sum(
        1
        for t in alerts
        if not any(a <= t <= b for a, b in case.windows)
        and not any(a <= t <= b for a, b in case.ignore)
    )
    delay = (caught_at - case.onset).total_seconds() / 60 if caught_at else None
    return caught_at is not None, false, delay


def weeks_of(case: Case) -> float:
    """Length of the case's series in weeks."""
    span = (case.points[-1][0] - case.points[0][0]).total_seconds()
    return span / (7 * _DAY)
