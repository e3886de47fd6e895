"""Leave-one-series-out choice of how long an adopted level stays provisional.

After a page, the count path adopts the level of the hours after it; `recheck_hours`
(`detect.counts.CountConfig`) is how long the recent hours may still step it back towards
the old normal (0: the adoption is final at once, as before). Each candidate runs the
whole shipped detector over every dev series and its scenario cases; per held-out series
the candidate best on the other four (`benchmark.choose_by_fold`) is reported there.

    python3 -m tools.eval.adoption_choice > folds.jsonl
"""

from __future__ import annotations

import json
import sys
from typing import Any

from services.alerting.detect.spikes import SpikeDetector
from tools.eval import benchmark
from tools.eval.benchmark import (
    Dev,
    Tally,
    candidate_report,
    detector_config,
    infer_bin_seconds,
    leave_out_shape,
    load_dev,
)
from tools.eval.scenarios import Points

CANDIDATES: tuple[dict[str, Any], ...] = tuple(
    {"recheck_hours": hours} for hours in (0.0, 12.0, 24.0, 48.0)
)


def candidate_tallies(
    dev: Dev, candidates: tuple[dict[str, Any], ...] = CANDIDATES, workers: int = 2
) -> dict[int, dict[str, dict[str, Tally]]]:
    """Return the tallies of every candidate on every dev series."""

    def settings_of(candidate: dict[str, Any], name: str) -> dict[str, Any]:
        return {"counts": candidate, "prior": leave_out_shape(dev, name)}

    return benchmark.candidate_tallies(dev, candidates, settings_of, workers)


def blind_hours(points: Points, counts: dict[str, Any], factor: float = 2.0) -> dict[str, Any]:
    """Hours after the pages of `points` in which the count path expects > `factor` x its
    level at the page (before the page's bin was learned): how long it is blind."""
    cfg = detector_config(infer_bin_seconds(points), counts)
    det = SpikeDetector(cfg)
    pre: float | None = None
    blind = 0
    pages = 0
    for ts, value in points:
        before = det.counts.level
        if det.update(ts, value) is not None:
            pages += 1
            pre = before
        level = det.counts.level
        if pre is not None and level is not None and level > factor * pre:
            blind += 1
    hours = blind * cfg.counts.bin_seconds / 3600
    return {"pages": pages, "blind_hours": round(hours, 1)}


if __name__ == "__main__":
    dev_series = load_dev()
    if "--blind" in sys.argv:
        for candidate in CANDIDATES:
            for name, (points, _) in dev_series.items():
                row = {"candidate": candidate, "series": name}
                print(json.dumps(row | blind_hours(points, candidate)), flush=True)
        sys.exit(0)
    found = candidate_tallies(dev_series)
    for row in candidate_report(list(dev_series), found, CANDIDATES):
        print(json.dumps(row, default=str), flush=True)
    print("done", file=sys.stderr)
