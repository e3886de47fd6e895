"""Leave-one-series-out choice of the sustained path's settings (slow burns, level shifts).

Each candidate (`detect.sustained.SustainedConfig` fields) runs the whole shipped
detector over every dev series and the scenario cases made from it
(`tools.eval.benchmark.series_tallies`, each series with the day shape pooled without
it). For each dev series, the candidate with the most families caught (mean catch rate
over the NAB windows and the four families) at no more than `max_false_per_week` pooled
false alerts on the *other* series is chosen and reported on the held-out series alone.

    python3 -m tools.eval.sustained_choice > folds.jsonl
    python3 -m tools.eval.sustained_choice --warmup > folds.jsonl  # the spreads' round
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tools.eval import benchmark
from tools.eval.benchmark import (
    Dev,
    Tally,
    choose_by_fold,
    leave_out_shape,
    load_dev,
)

CANDIDATES: tuple[dict[str, Any], ...] = tuple(
    {"ratios": ratios, "guard_hours": guard, "centered": centered, "threshold": threshold}
    for ratios in ((2.0,), (1.5, 2.0, 3.0))
    for guard in (12, 24)
    for centered in (False, True)
    for threshold in (8.5, 10.0)
) + tuple(
    # Second round: the run behind the inflation, for the three arms and 12-hour guard.
    {"ratios": (1.5, 2.0, 3.0), "guard_hours": 12, "run_hours": run, "threshold": threshold}
    for run, threshold in ((3, 10.0), (3, 12.0), (4, 10.0), (4, 12.0), (6, 12.0))
)

# Third round: the spreads learned from residual changes with an exact warm-up
# (`change_spreads`) at four thresholds, against the shipped settings.
WARMUP_CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    *({"change_spreads": True, "threshold": t} for t in (9.0, 10.0, 11.0, 12.0)),
)


def candidate_tallies(
    dev: Dev, candidates: tuple[dict[str, Any], ...] = CANDIDATES, workers: int = 2
) -> dict[int, dict[str, dict[str, Tally]]]:
    """Return the tallies of every candidate on every dev series."""

    def settings_of(candidate: dict[str, Any], name: str) -> dict[str, Any]:
        return {"prior": leave_out_shape(dev, name), "sustained": candidate}

    return benchmark.candidate_tallies(dev, candidates, settings_of, workers)


def folds(
    dev: Dev,
    results: dict[int, dict[str, dict[str, Tally]]],
    candidates: tuple[dict[str, Any], ...] = CANDIDATES,
    max_false_per_week: float = 0.5,
) -> list[dict[str, Any]]:
    """One row per held-out series (chosen on the others), then the choice on all five."""
    return choose_by_fold(list(dev), results, candidates, max_false_per_week)


if __name__ == "__main__":
    chosen = WARMUP_CANDIDATES if "--warmup" in sys.argv[1:] else CANDIDATES
    dev_series = load_dev()
    for row in folds(dev_series, candidate_tallies(dev_series, chosen), chosen):
        print(json.dumps(row), flush=True)
    print("done", file=sys.stderr)
