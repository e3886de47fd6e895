"""How good the projections are: at each alert, the projection against what came.

At every page of the shipped detector (balanced preset) on a dev series and on the scenario
cases made from it (`tools.eval.benchmark.dev_cases`), the projection of the next 1, 6 and
24 hours is compared with the mentions that followed: interval coverage (share of totals
inside the 80% interval) and a MASE-style ratio, the model's summed absolute error over
the naive forecast's ("stays the same": last hour's count times the horizon). Horizons
that run past the end of a series are left out. `leave_one_out` chooses the settings of
`detect.forecast` on every series but one and reports them on that one, fold by fold.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable, Sequence
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
    """Per horizon: coverage, MASE-style ratio (pooled absolute errors) and the alerts where
    the projection is closer than the naive forecast (`closer`); and how often severity's
    step fires (the story projected to run at 3x its usual volume over the next 6 hours,
    `Projection.usual_multiple`) and how often the next 6 hours' mentions came at 3x the
    usual (`tripling`: projected, of which came, came in all)."""
    projected = projections(caps, config)
    out: dict[str, Any] = {"alerts": len(caps)}
    for h in HORIZONS_HOURS:
        n = inside = closer = 0
        model = naive = 0.0
        for cap, proj in zip(caps, projected, strict=True):
            if h not in cap.actual:
                continue
            o, actual = proj.outlook(h), cap.actual[h]
            n += 1
            inside += o.low <= actual <= o.high
            closer += abs(o.expected - actual) < abs(cap.naive[h] - actual)
            model += abs(o.expected - actual)
            naive += abs(cap.naive[h] - actual)
        out[f"{h}h"] = {
            "n": n,
            "coverage": round(inside / n, 3) if n else None,
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
    """Print the leave-one-series-out table of the projections: one JSON line per fold."""
    from tools.eval.benchmark import dev_cases

    for row in leave_one_out(dev_folds(dev, dev_cases, shipped)):
        out.write(json.dumps({"forecast_fold": True, **row}) + "\n")
