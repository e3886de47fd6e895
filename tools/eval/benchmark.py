"""Scenario benchmark and leave-one-series-out choice of the count path's settings.

`scenario_table` runs the shipped detector over the NAB dev series' labelled windows (on
the whole series, and as a series 1-7 days old: `nab_young`) and the scenario cases made
from them (`tools.eval.scenarios`), per family: cases caught, false alerts per week,
median delay from onset. `leave_one_out` picks, for each dev series, the candidate
settings that do best on the *other* series (most families caught with at most
`max_false_per_week` pooled false alerts), then reports that choice on the held-out
series only.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from services.alerting.detect.season import POPULATION_DAY_SHAPE
from services.alerting.detect.spikes import SpikeConfig, SpikeDetector, preset
from services.alerting.detect.young import YoungConfig
from tools.data import dataset_dir
from tools.eval.detection import DEV_DATASET, infer_bin_seconds, read_series, windows_of
from tools.eval.scenarios import (
    FAMILIES,
    Case,
    Points,
    Window,
    make_case,
    population_day_shape,
    score_case,
    weeks_of,
    young_windows,
)

NAB = "nab"
NAB_YOUNG = "nab_young"  # the real labelled windows, seen 1-7 days after the series started
CASES_PER_FAMILY = 6
# Candidate settings of the count path (`detect.counts.CountConfig` fields).
CANDIDATES: tuple[dict[str, Any], ...] = tuple(
    {"threshold": t, "horizons_minutes": h, "level_half_life_hours": hl}
    for h in ((15.0, 60.0, 180.0, 360.0, 720.0), (30.0, 60.0, 180.0, 360.0, 720.0))
    for t in (4.0, 5.0, 6.0)
    for hl in (24.0, 48.0)
)


# The dev series by name, each with its labelled anomaly windows.
Dev = dict[str, tuple[Points, list[Window]]]


@dataclass(slots=True)
class Tally:
    """Caught cases, false alerts, weeks watched and delays of one family."""

    caught: int = 0
    cases: int = 0
    false: int = 0
    weeks: float = 0.0
    delays: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Pool another tally into this one."""
        self.caught += other.caught
        self.cases += other.cases
        self.false += other.false
        self.weeks += other.weeks
        self.delays += other.delays

    def row(self) -> dict[str, Any]:
        """Return the tally as a JSON-ready summary."""
        return {
            "caught": self.caught,
            "cases": self.cases,
            "false_alerts_per_week": round(self.false / self.weeks, 3) if self.weeks else 0.0,
            "median_delay_minutes": round(statistics.median(self.delays), 1)
            if self.delays
            else None,
        }


def detector_config(
    bin_seconds: int,
    counts: dict[str, Any] | None,
    prior: tuple[float, ...] | None = None,
    sustained: dict[str, Any] | None = None,
    preset_name: str = "balanced",
) -> SpikeConfig:
    """The volume detector of a preset with candidate settings (and a day-shape prior)."""
    cfg = preset(preset_name, bin_seconds=bin_seconds)
    cfg = replace(cfg, counts=replace(cfg.counts, **counts)) if counts else cfg
    cfg = replace(cfg, sustained=replace(cfg.sustained, **sustained)) if sustained else cfg
    if prior is None:
        return cfg
    return replace(
        cfg,
        counts=replace(cfg.counts, prior_shape=prior),
        sustained=replace(cfg.sustained, prior_shape=prior),
    )


def leave_out_shape(dev: dict[str, tuple[Points, list[Window]]], name: str) -> tuple[float, ...]:
    """The day shape pooled over every series but `name` (the shipped one when alone)."""
    others = [points for other, (points, _) in dev.items() if other != name]
    return population_day_shape(others) if others else POPULATION_DAY_SHAPE


def alert_times(points: Points, config: SpikeConfig) -> list[datetime]:
    """Run the volume detector over `points`; return the times it paged."""
    det = SpikeDetector(config)
    return [ts for ts, value in points if det.update(ts, value) is not None]


def dev_cases(name: str, points: Points, windows: list[Window]) -> list[Case]:
    """Return the seeded scenario cases made from one dev series."""
    seed = sum(map(ord, name))
    return [
        make_case(family, points, seed=seed * 100 + k, ignore=windows)
        for family in FAMILIES
        for k in range(CASES_PER_FAMILY)
    ]


def series_tallies(
    name: str,
    points: Points,
    windows: list[Window],
    counts: dict[str, Any] | None = None,
    prior: tuple[float, ...] | None = None,
    sustained: dict[str, Any] | None = None,
    preset_name: str = "balanced",
) -> dict[str, Tally]:
    """Return the NAB, young-window and per-family tallies of one dev series under `counts`.

    `prior`: the population day shape its young series borrow (pooled without it);
    `sustained`: settings of the sustained path (`detect.sustained.SustainedConfig`);
    `preset_name`: the sensitivity preset the settings apply to.
    """
    bin_seconds = infer_bin_seconds(points)
    out = {family: Tally() for family in (NAB, NAB_YOUNG, *FAMILIES)}
    config = detector_config(bin_seconds, counts, prior, sustained, preset_name)
    times = alert_times(points, config)
    span = (points[-1][0] - points[0][0]).total_seconds() + bin_seconds
    nab = out[NAB]
    nab.cases, nab.weeks = len(windows), span / (7 * 86400)
    nab.false = sum(1 for t in times if not any(a <= t <= b for a, b in windows))
    for a, b in windows:
        first = next((t for t in times if a <= t <= b), None)
        if first is not None:
            nab.caught += 1
            nab.delays.append((first - a).total_seconds() / 60)
    for case in young_windows(points, windows):
        _tally(out[NAB_YOUNG], case, alert_times(case.points, config))
    made = detector_config(300, counts, prior, sustained, preset_name)  # cases are 5-minute
    for case in dev_cases(name, points, windows):
        _tally(out[case.family], case, alert_times(case.points, made))
    return out


def _tally(tally: Tally, case: Case, alerts: list[datetime]) -> None:
    """Add one case's catch, false alerts, weeks watched and delay to its family's tally."""
    caught, false, delay = score_case(case, alerts)
    tally.cases += 1
    tally.caught += caught
    tally.false += false
    tally.weeks += weeks_of(case)
    if delay is not None:
        tally.delays.append(delay)


def load_dev(root: str | Path | None = None) -> dict[str, tuple[Points, list[Window]]]:
    """Return every dev series with its labelled windows."""
    base = Path(root) if root is not None else dataset_dir(DEV_DATASET)
    labels = base / "anomaly_windows.json"
    return {
        path.stem: (read_series(path), windows_of(labels, path.name))
        for path in sorted(base.glob("*.csv"))
    }


def load_files(
    paths: Iterable[str | Path], labels: str | Path | None
) -> dict[str, tuple[Points, list[Window]]]:
    """Return the given series with their labelled windows (none without `labels`)."""
    return {
        Path(p).stem: (read_series(p), windows_of(labels, Path(p).name) if labels else [])
        for p in paths
    }


def pooled(tallies: Iterable[dict[str, Tally]]) -> dict[str, Tally]:
    """Pool per-series tallies family by family."""
    out = {family: Tally() for family in (NAB, NAB_YOUNG, *FAMILIES)}
    for one in tallies:
        for family, tally in one.items():
            out[family].add(tally)
    return out


def _merit(tallies: dict[str, Tally], max_false: float) -> tuple[float, float]:
    rates = [t.caught / t.cases for t in tallies.values() if t.cases]
    false = sum(t.false for t in tallies.values()) / sum(t.weeks for t in tallies.values())
    caught = statistics.mean(rates) if rates else 0.0
    return (caught if false <= max_false else caught - 10 * (false - max_false), -false)


def choose_by_fold(
    names: list[str],
    results: dict[int, dict[str, dict[str, Tally]]],
    candidates: tuple[dict[str, Any], ...],
    max_false_per_week: float = 0.5,
) -> list[dict[str, Any]]:
    """Per held-out series, the candidate best on the others (`_merit`) and its tallies there.

    `results[i][name]` are candidate i's tallies on series `name`. The last row is the choice
    made on every series, with its (in-sample) figures: the shipped default.
    """
    rows = []
    for held in (*names, None):
        best = max(
            results,
            key=lambda i: _merit(
                pooled(t for n, t in results[i].items() if n != held), max_false_per_week
            ),
        )
        chosen = pooled(t for n, t in results[best].items() if held in (None, n))
        rows.append(
            {
                "held_out": held or "none (choice on every series: the shipped default)",
                "chosen": candidates[best],
                **{f: t.row() for f, t in chosen.items()},
            }
        )
    return rows


def candidate_report(
    names: list[str],
    results: dict[int, dict[str, dict[str, Tally]]],
    candidates: tuple[dict[str, Any], ...],
    max_false_per_week: float = 0.5,
) -> list[dict[str, Any]]:
    """JSON rows of a leave-one-series-out choice: each candidate pooled over every series,
    then per series, then the fold rows of `choose_by_fold`."""
    rows: list[dict[str, Any]] = []
    for i, candidate in enumerate(candidates):
        totals = pooled(results[i].values())
        rows.append({"candidate": candidate, **{k: t.row() for k, t in totals.items()}})
        for name, tallies in results[i].items():
            rows.append(
                {"candidate": candidate, "series": name} | {k: t.row() for k, t in tallies.items()}
            )
    return rows + choose_by_fold(names, results, candidates, max_false_per_week)


def _job(args: tuple[str, Points, list[Window], dict[str, Any]]) -> dict[str, Tally]:
    name, points, windows, settings = args
    return series_tallies(name, points, windows, **settings)


def candidate_tallies(
    dev: dict[str, tuple[Points, list[Window]]],
    candidates: tuple[dict[str, Any], ...],
    settings_of: Callable[[dict[str, Any], str], dict[str, Any]],
    workers: int = 2,
) -> dict[int, dict[str, dict[str, Tally]]]:
    """`results[i][name]`: candidate i's tallies on dev series `name`, in worker processes.

    `settings_of(candidate, name)` gives the `series_tallies` keywords of one job (which
    settings the candidate holds, and the day-shape prior pooled without the series).
    """
    jobs = [(i, name) for i in range(len(candidates)) for name in dev]
    args = [(name, *dev[name], settings_of(candidates[i], name)) for i, name in jobs]
    results: dict[int, dict[str, dict[str, Tally]]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for (i, name), tallies in zip(jobs, pool.map(_job, args), strict=True):
            results.setdefault(i, {})[name] = tallies
    return results


def leave_one_out(
    dev: dict[str, tuple[Points, list[Window]]],
    candidates: tuple[dict[str, Any], ...] = CANDIDATES,
    max_false_per_week: float = 0.5,
    progress: Callable[[str], None] | None = None,
    workers: int = 2,
) -> list[dict[str, Any]]:
    """Choose settings on all series but one, report them on that one; one row per fold.

    The last row is the choice made on every series, with its (in-sample) figures.
    """
    results = candidate_tallies(dev, candidates, lambda c, _: {"counts": c}, workers)
    if progress:
        progress("candidates done")
    return choose_by_fold(list(dev), results, candidates, max_false_per_week)


def scenario_table(
    dev: dict[str, tuple[Points, list[Window]]],
    out: TextIO = sys.stdout,
    *,
    young_model: bool = False,
    preset_name: str = "balanced",
) -> dict[str, dict[str, Any]]:
    """Print one row per family for a shipped preset over every dev series.

    `young_model`: with the young-series level model (`detect.young`) switched on.
    """
    counts = {"young": YoungConfig(enabled=True)} if young_model else None
    totals = pooled(
        series_tallies(
            name, *dev[name], counts, prior=leave_out_shape(dev, name), preset_name=preset_name
        )
        for name in dev
    )
    rows = {family: tally.row() for family, tally in totals.items()}
    for family, row in rows.items():
        caught = f"{row['caught']}/{row['cases']}"
        out.write(
            f"{family:<12} caught {caught:>7}  false/wk {row['false_alerts_per_week']:>6}  "
            f"median delay min {row['median_delay_minutes']}\n"
        )
    return rows


if __name__ == "__main__":
    for fold in leave_one_out(load_dev(), progress=lambda s: print(s, file=sys.stderr)):
        print(json.dumps(fold))
