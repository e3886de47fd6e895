"""How often a real series' ordinary weeks already hold an xR rise: the young family's floor.

The young scenarios inject x3-x6 for 1-3 hours into a series 6-48 hours old. Whether
such a rise can be caught at few false alerts depends on how often the same series rises
that much on its own, outside its labelled windows. `rise_rates` runs the count path's
level model over a whole series (strictly online: each bin's expectation is the level x
day shape from before that bin) and counts the episodes (separated by `gap_hours`) in
which the count over a window reaches `ratio` x its expectation with `min_excess`
mentions above it, after `skip_days` of history, per week.

`python3 -m tools.eval.rise_rates [--minutes 30,60] [--ratios 2,3,4] [--skip-days 3]`
prints one JSON line per dev series (`--minutes 360 --ratios 1.5,2,3`: the slow burns'
floor).
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from dataclasses import replace

from services.alerting.detect.alert import to_epoch
from services.alerting.detect.counts import CountConfig, CountDetector
from tools.eval.benchmark import leave_out_shape, load_dev
from tools.eval.detection import infer_bin_seconds
from tools.eval.scenarios import Points, Window

RATIOS: tuple[float, ...] = (2.0, 3.0, 4.0)
WINDOWS_MINUTES: tuple[int, ...] = (30, 60)


def rise_rates(
    points: Points,
    windows: list[Window],
    config: CountConfig | None = None,
    *,
    ratios: tuple[float, ...] = RATIOS,
    windows_minutes: tuple[int, ...] = WINDOWS_MINUTES,
    min_excess: float = 8.0,
    skip_days: float = 3.0,
    gap_hours: float = 6.0,
) -> dict[str, float]:
    """Return episodes per week of each `x{ratio}@{minutes}m` rise outside `windows`."""
    bin_seconds = infer_bin_seconds(points)
    cfg = replace(config or CountConfig(), bin_seconds=bin_seconds)
    det = CountDetector(cfg)
    spans = {m: cfg.bins(m) for m in windows_minutes}
    recent: deque[tuple[float, float]] = deque(maxlen=max(spans.values()))
    last: dict[str, float] = {}
    episodes: dict[str, int] = {f"x{r:g}@{m}m": 0 for r in ratios for m in windows_minutes}
    start = to_epoch(points[0][0])
    for ts, value in points:
        epoch = to_epoch(ts)
        # Expected count of this bin from the level and day shape before it.
        expected = det.expected_count(bin_seconds / 60, epoch - bin_seconds / 2)
        known = det.level is not None
        det.update(ts, value)
        recent.append((value, expected))
        if not known or epoch - start < skip_days * 86400:
            continue
        if any(a <= ts <= b for a, b in windows):
            continue
        for minutes, span in spans.items():
            if len(recent) < span:
                continue
            part = list(recent)[-span:]
            count, mean = sum(c for c, _ in part), sum(e for _, e in part)
            for ratio in ratios:
                key = f"x{ratio:g}@{minutes}m"
                if count >= ratio * mean and count - mean >= min_excess:
                    if epoch - last.get(key, -1e18) > gap_hours * 3600:
                        episodes[key] += 1
                    last[key] = epoch
    weeks = max(1e-9, (to_epoch(points[-1][0]) - start - skip_days * 86400) / (7 * 86400))
    return {key: round(n / weeks, 2) for key, n in episodes.items()}


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=_floats, default=WINDOWS_MINUTES)
    parser.add_argument("--ratios", type=_floats, default=RATIOS)
    parser.add_argument("--skip-days", type=float, default=3.0)
    args = parser.parse_args()
    dev = load_dev()
    for name, (series, labelled) in dev.items():
        shape = replace(CountConfig(), prior_shape=leave_out_shape(dev, name))
        rates = rise_rates(
            series,
            labelled,
            shape,
            ratios=args.ratios,
            windows_minutes=tuple(round(m) for m in args.minutes),
            skip_days=args.skip_days,
        )
        print(json.dumps({"series": name, **rates}))
