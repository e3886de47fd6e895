"""How good the projections are: at each alert, the projection against what came.

At every page of the shipped detector (balanced preset) on a dev series and on the scenario
cases made from it (`tools.eval.benchmark.dev_cases`), the projection of the next 1, 6 and
24 hours is compared with the mentions that followed: interval coverage (share of totals
inside the 80% interval) and a MASE-style ratio, the model's summed absolute error over
the naive forecast's ("stays the same": last hour's count times the horizon). Horizons
that run past the end of a series are left out. `leave_one_out` chooses the settings of
`detect.forecast` on every series but one and reports them on that one, fold by fold;
`one_hour_alternatives` measures the same way what was tried for the 1-hour horizon.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

from services.alerting.detect.forecast import (
    HORIZONS_HOURS,
    ForecastConfig,
    Inputs,
    Projection,
    inputs_of,
)
from services.alerting.detect.spikes import SpikeConfig, SpikeDetector, preset
from services.alerting.incidents.severity import TRIPLING
from tools.eval.scenarios import Points, Window

# Candidate point settings, then interval spreads (chosen after the point settings).
# The pace's spans are part of the model's form (`detect.forecast`), not chosen here.
POINT_GRID: tuple[dict[str, Any], ...] = tuple(
    {"decay": d} for d in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
)
SPREADS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


@dataclass(frozen=True, slots=True)
class Capture:
    """One alert: the projection's inputs, what came next and the naive forecast, per horizon."""

    inputs: Inputs
    actual: dict[int, float]
    naive: dict[int, float]


def captures(points: Points, config: SpikeConfig) -> list[Capture]:
    """Run the detector over `points`; capture every alert's inputs and outcome."""
    det = SpikeDetector(config)
    values = [v for _, v in points]
    out = []
    for i, (ts, value) in enumerate(points):
        if det.update(ts, value) is None:
            continue
        inputs = inputs_of(det.counts, ts)
        cap = outcome(values, i, inputs, config.bin_seconds) if inputs is not None else None
        if cap is not None:
            out.append(cap)
    return out


def outcome(values: Sequence[float], i: int, inputs: Inputs, bin_seconds: int) -> Capture | None:
    """What came after bin `i` (horizons past the end left out); None when none fits."""
    per_hour = max(1, round(3600 / bin_seconds))
    last = sum(values[max(0, i + 1 - per_hour) : i + 1])
    actual, naive = {}, {}
    for h in HORIZONS_HOURS:
        if i + h * per_hour < len(values):
            actual[h] = float(sum(values[i + 1 : i + 1 + h * per_hour]))
            naive[h] = float(last * h)
    return Capture(inputs, actual, naive) if actual else None


def projections(caps: Sequence[Capture], config: ForecastConfig) -> list[Projection]:
    """The projection of every capture under `config`."""
    return [c.inputs.project(config) for c in caps]


def score(caps: Sequence[Capture], config: ForecastConfig) -> dict[str, Any]:
    """Per horizon: coverage (and the share of totals `below` the interval: the rest of the
    misses are above it), MASE-style ratio (pooled absolute errors) and the alerts where
    the projection is closer than the naive forecast (`closer`); and how often severity's
    step fires (the story projected to run at 3x its usual volume over the next 6 hours,
    `Projection.usual_multiple`) and how often the next 6 hours' mentions came at 3x the
    usual (`tripling`: projected, of which came, came in all)."""
    projected = projections(caps, config)
    out: dict[str, Any] = {"alerts": len(caps)}
    for h in HORIZONS_HOURS:
        n = inside = below = closer = 0
        model = naive = 0.0
        for cap, proj in zip(caps, projected, strict=True):
            if h not in cap.actual:
                continue
            o, actual = proj.outlook(h), cap.actual[h]
            n += 1
            inside += o.low <= actual <= o.high
            below += actual < o.low
            closer += abs(o.expected - actual) < abs(cap.naive[h] - actual)
            model += abs(o.expected - actual)
            naive += abs(cap.naive[h] - actual)
        out[f"{h}h"] = {
            "n": n,
            "coverage": round(inside / n, 3) if n else None,
            "below": round(below / n, 3) if n else None,  # misses under the interval
            "ratio": round(model / naive, 3) if naive else None,
            "closer": closer,
        }
    out["tripling"] = _tripling(caps, projected)
    return out


def _tripling(caps: Sequence[Capture], projected: Sequence[Projection]) -> dict[str, int]:
    pairs = [
        (
            (p.usual_multiple or 0.0) >= TRIPLING,
            c.actual[6] >= TRIPLING * max(sum(c.inputs.ahead[:6]), 1.0),
        )
        for c, p in zip(caps, projected, strict=True)
        if 6 in c.actual
    ]
    return {
        "projected": sum(p for p, _ in pairs),
        "came": sum(p and c for p, c in pairs),
        "came_in_all": sum(c for _, c in pairs),
    }


def _point_loss(folds: Sequence[Sequence[Capture]], config: ForecastConfig) -> tuple[float, float]:
    """(worst, mean) over horizons of the MASE-style ratio averaged over folds, so that no
    series' scale dominates (no intervals: fast). The bar is a ratio < 1 at every horizon;
    the mean breaks ties between settings that differ only past the worst horizon."""
    per_horizon = []
    for h in HORIZONS_HOURS:
        ratios = []
        for caps in folds:
            model = naive = 0.0
            for cap in caps:
                if h in cap.actual:
                    model += abs(_point(cap.inputs, config, h) - cap.actual[h])
                    naive += abs(cap.naive[h] - cap.actual[h])
            if naive:
                ratios.append(model / naive)
        if ratios:
            per_horizon.append(sum(ratios) / len(ratios))
    if not per_horizon:
        return (float("inf"), float("inf"))
    return (round(max(per_horizon), 3), sum(per_horizon) / len(per_horizon))


def _point(inputs: Inputs, config: ForecastConfig, hours: int) -> float:
    return (
        inputs.project(replace(config, spreads=(0.0,) * len(HORIZONS_HOURS)))
        .outlook(hours)
        .expected
    )


def _coverage_gap(caps: Sequence[Capture], config: ForecastConfig, hours: int) -> float:
    scored = score(caps, config)[f"{hours}h"]
    return abs(scored["coverage"] - 0.8) if scored["n"] else 0.0


def choose(folds: Sequence[Sequence[Capture]]) -> ForecastConfig:
    """The point settings with the lowest worst-horizon ratio, then each horizon's spread
    whose pooled coverage is closest to 80%."""
    best = min(POINT_GRID, key=lambda g: _point_loss(folds, ForecastConfig(**g)))
    point = ForecastConfig(**best)
    caps = list(itertools.chain.from_iterable(folds))
    spreads = tuple(
        min(SPREADS, key=lambda s: _coverage_gap(caps, _with_spread(point, i, s), h))
        for i, h in enumerate(HORIZONS_HOURS)
    )
    return replace(point, spreads=spreads)


def _with_spread(config: ForecastConfig, i: int, spread: float) -> ForecastConfig:
    spreads = list(config.spreads)
    spreads[i] = spread
    return replace(config, spreads=tuple(spreads))


def leave_one_out(folds: dict[str, list[Capture]]) -> list[dict[str, Any]]:
    """Choose settings on every fold but one, score them on that one; last row: all folds."""
    rows = []
    for held in (*folds, None):
        train = [c for n, c in folds.items() if n != held]
        cfg = choose(train)
        test = folds[held] if held is not None else list(itertools.chain.from_iterable(train))
        rows.append(
            {
                "held_out": held or "none (choice on every series: the shipped default)",
                "chosen": {
                    "spans_minutes": list(cfg.spans_minutes),
                    "decay": cfg.decay,
                    "spreads": list(cfg.spreads),
                },
                **score(test, cfg),
            }
        )
    return rows


def dev_folds(
    dev: dict[str, tuple[Points, list[Window]]], cases: Any, config: Any
) -> dict[str, list[Capture]]:
    """Captures of every dev series and its scenario cases, one fold per series.

    `cases(name, points, windows)` makes a series' scenario cases; `config(bin_seconds)`
    the detector settings.
    """
    from tools.eval.detection import infer_bin_seconds

    folds: dict[str, list[Capture]] = {}
    for name, (points, windows) in dev.items():
        caps = captures(points, config(infer_bin_seconds(points)))
        for case in cases(name, points, windows):
            caps += captures(case.points, config(300))
        folds[name] = caps
    return folds


def shipped(bin_seconds: int) -> SpikeConfig:
    """The balanced preset for a bin size."""
    return preset("balanced", bin_seconds=bin_seconds)


def table(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Fold-by-fold rows as text: coverage and ratio per horizon."""
    lines = []
    for row in rows:
        cells = [
            f"{h}h cov {row[f'{h}h']['coverage']} ratio {row[f'{h}h']['ratio']} "
            f"(closer {row[f'{h}h']['closer']}/{row[f'{h}h']['n']})"
            for h in HORIZONS_HOURS
        ]
        lines.append(f"{row['held_out']:<28} " + " | ".join(cells))
    return lines


def forecast_folds(dev: dict[str, tuple[Points, list[Window]]], out: TextIO = sys.stdout) -> None:
    """Print the leave-one-series-out table of the projections: one JSON line per fold, then
    one per fold and 1-hour alternative (`one_hour_alternatives`)."""
    from tools.eval.benchmark import dev_cases

    folds = dev_folds(dev, dev_cases, shipped)
    for row in leave_one_out(folds):
        out.write(json.dumps({"forecast_fold": True, **row}) + "\n")
    for row in one_hour_alternatives(folds):
        out.write(json.dumps({"forecast_one_hour": True, **row}) + "\n")


# What was tried to beat "stays the same" by more at 1 hour (docs/detection.md,
# "Projection"): the model's share in a mix with the naive forecast, and the share of the
# first hour's projected excess over the season that is kept (both chosen leave-one-out);
# and a mix weighted by the series' own recent errors (no setting).
MIX_SHARES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
CARRIES: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
BACKTEST_BINS = 24  # the series' own errors: 30-minute forecasts made in the last 2 hours
_HALF_HOUR = 0.5
RESAMPLES = 1000
AHEAD = max(HORIZONS_HOURS)
_Point = tuple[float, float, float, float, float]  # model, naive, season, own weight, actual


def mix(model: float, naive: float, share: float) -> float:
    """The model's `share` of a linear mix with the naive forecast."""
    return share * model + (1.0 - share) * naive


def carry(model: float, season: float, share: float) -> float:
    """The season plus `share` of the model's excess over it (at least 0)."""
    return max(0.0, season + share * (model - season))


def own_error_share(inputs: Inputs, config: ForecastConfig) -> float:
    """The model's weight against the naive forecast from the series' own past errors:
    at each of the last `BACKTEST_BINS` bins with half an hour after it inside the window,
    both forecast that half hour from the bins before only; the weight is the naive
    forecast's summed absolute error over both (inverse-error weights; 0.5 without any)."""
    per_hour = max(1, round(3600 / inputs.bin_seconds))
    half = max(1, per_hour // 2)
    recent = inputs.recent
    model_err = naive_err = 0.0
    for t in range(max(per_hour, len(recent) - BACKTEST_BINS), len(recent) - half + 1):
        past, after = recent[:t], recent[t : t + half]
        season = sum(e for _, e in after) * per_hour / half
        then = Inputs(inputs.at, past, (season,) * AHEAD, inputs.bin_seconds, inputs.dispersion)
        came = sum(c for c, _ in after)
        model_err += abs(_HALF_HOUR * _expected(then, config, 1) - came)
        naive_err += abs(_HALF_HOUR * sum(c for c, _ in past[-per_hour:]) - came)
    total = model_err + naive_err
    return naive_err / total if total else 0.5


def _expected(inputs: Inputs, config: ForecastConfig, hours: int) -> float:
    return inputs.project(config).outlook(hours).expected


def one_hour_alternatives(
    folds: dict[str, list[Capture]], config: ForecastConfig | None = None
) -> list[dict[str, Any]]:
    """Per fold, the 1-hour MASE-style ratio of the model and of each alternative: `mix`
    and `carry` with the setting chosen on the other folds (lowest worst-fold ratio, mean
    breaks ties), and `own_errors` (no setting); `model_80`: how far the model's ratio
    moves when the fold's alerts are resampled (`resampled_ratio`)."""
    cfg = config or ForecastConfig()
    # (model, naive, season, own-error weight, actual) of every alert with a next hour
    points: dict[str, list[_Point]] = {
        name: [
            (
                _expected(c.inputs, cfg, 1),
                c.naive[1],
                c.inputs.ahead[0],
                own_error_share(c.inputs, cfg),
                c.actual[1],
            )
            for c in caps
            if 1 in c.actual
        ]
        for name, caps in folds.items()
    }
    forms: dict[str, tuple[tuple[float, ...], Callable[[_Point, float], float]]] = {
        "mix": (MIX_SHARES, lambda p, s: mix(p[0], p[1], s)),
        "carry": (CARRIES, lambda p, s: carry(p[0], p[2], s)),
    }
    rows = []
    for held, pts in points.items():
        row: dict[str, Any] = {
            "held_out": held,
            "model": _ratio(pts, _model),
            "model_80": resampled_ratio(pts),
        }
        train = [v for n, v in points.items() if n != held]
        for form, (grid, fn) in forms.items():
            best = min(grid, key=lambda s: _worst_mean(train, functools.partial(_at, fn, s)))
            row[form] = {"chosen": best, "ratio": _ratio(pts, functools.partial(_at, fn, best))}
        row["own_errors"] = _ratio(pts, lambda p: mix(p[0], p[1], p[3]))
        rows.append(row)
    return rows


def resampled_ratio(
    points: Sequence[_Point], draws: int = RESAMPLES, seed: int = 0
) -> list[float] | None:
    """The 10th and 90th percentile of the model's ratio over `draws` resamples (with
    replacement, seeded) of the alerts. Alerts of one crisis are not independent, so the
    true uncertainty is wider still."""
    rng = random.Random(seed)
    ratios = sorted(
        r
        for r in (_ratio(rng.choices(points, k=len(points)), _model) for _ in range(draws))
        if r is not None
    )
    if not ratios:
        return None
    return [ratios[int(0.1 * (len(ratios) - 1))], ratios[int(0.9 * (len(ratios) - 1))]]


def _model(point: _Point) -> float:
    return point[0]


def _at(form: Callable[[_Point, float], float], setting: float, point: _Point) -> float:
    return form(point, setting)


def _ratio(points: Sequence[_Point], forecast: Callable[[_Point], float]) -> float | None:
    """Summed |forecast - actual| over summed |naive - actual|."""
    naive = sum(abs(p[1] - p[-1]) for p in points)
    return round(sum(abs(forecast(p) - p[-1]) for p in points) / naive, 3) if naive else None


def _worst_mean(
    folds: Sequence[Sequence[_Point]], forecast: Callable[[_Point], float]
) -> tuple[float, float]:
    ratios = [r for r in (_ratio(f, forecast) for f in folds) if r is not None]
    return (max(ratios), sum(ratios) / len(ratios)) if ratios else (float("inf"), float("inf"))
