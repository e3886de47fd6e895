"""Leave-one-series-out choice of how long a bin waits before it enters the day shape.

`shape_delay_minutes` (`detect.counts.CountConfig`): 0 learns each bin into its hour's
shape cell at once, so a rise raises its own expectation while it is judged (a young
brand's cell has little weight of its own and moves fastest); longer delays judge every
window up to that length by the shape from before it. Each candidate runs the whole
shipped detector over every dev series and its scenario cases; per held-out series the
candidate best on the other four (`benchmark.choose_by_fold`) is reported there.

    python3 -m tools.eval.shape_delay_choice [PRESET] > folds.jsonl
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tools.eval import benchmark
from tools.eval.benchmark import Dev, Tally, candidate_report, leave_out_shape, load_dev

CANDIDATES: tuple[dict[str, Any], ...] = tuple(
    {"shape_delay_minutes": minutes} for minutes in (0.0, 60.0, 720.0)
)


def candidate_tallies(
    dev: Dev,
    candidates: tuple[dict[str, Any], ...] = CANDIDATES,
    workers: int = 2,
    preset_name: str = "balanced",
) -> dict[int, dict[str, dict[str, Tally]]]:
    """Return the tallies of every candidate on every dev series (under one preset)."""

    def settings_of(candidate: dict[str, Any], name: str) -> dict[str, Any]:
        prior = leave_out_shape(dev, name)
        return {"counts": candidate, "prior": prior, "preset_name": preset_name}

    return benchmark.candidate_tallies(dev, candidates, settings_of, workers)


if __name__ == "__main__":
    dev_series = load_dev()
    chosen_preset = sys.argv[1] if len(sys.argv) > 1 else "balanced"
    found = candidate_tallies(dev_series, preset_name=chosen_preset)
    for row in candidate_report(list(dev_series), found, CANDIDATES):
        print(json.dumps(row, default=str), flush=True)
    print("done", file=sys.stderr)
