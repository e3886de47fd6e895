"""`eval detection`: run the online volume detector over a `timestamp,value` CSV and score it.

Strictly online: each alert at time t is decided from points up to t only, with the
fixed presets of `detect.spikes`. Labels (NAB-style windows) are used only for scoring.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from services.alerting.detect.alert import as_utc
from services.alerting.detect.forecast import ForecastConfig, inputs_of
from services.alerting.detect.spikes import SpikeDetector, preset
from tools.data import dataset_dir
from tools.eval.forecast import Capture, outcome, score

_TS_FORMAT = "%Y-%m-%d %H:%M:%S"
DEV_DATASET = "nab_realtweets_dev"
POINTS_FILE = "anomaly_points.json"


def read_series(csv_path: str | Path) -> list[tuple[datetime, float]]:
    """Read a `timestamp,value` CSV into time-ordered (UTC datetime, value) pairs."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = [
            (as_utc(datetime.fromisoformat(row["timestamp"].strip())), float(row["value"]))
            for row in csv.DictReader(handle)
        ]
    rows.sort(key=lambda pair: pair[0])
    return rows


def infer_bin_seconds(points: list[tuple[datetime, float]]) -> int:
    """Return the median spacing of the timestamps in seconds (60 when unknown)."""
    gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points)]
    gaps = [g for g in gaps if g > 0]
    return max(1, round(statistics.median(gaps))) if gaps else 60


def windows_of(labels_path: str | Path | None, name: str) -> list[tuple[datetime, datetime]]:
    if labels_path is None:
        return []
    labels = json.loads(Path(labels_path).read_text(encoding="utf-8"))
    key = next((k for k in labels if k == name or Path(k).stem == Path(name).stem), None)
    if key is None:
        return []
    return [
        (as_utc(datetime.fromisoformat(a)), as_utc(datetime.fromisoformat(b)))
        for a, b in labels[key]
    ]


def _load_points(points_path: str | Path | None, name: str) -> list[datetime]:
    if points_path is None or not Path(points_path).is_file():
        return []
    labels = json.loads(Path(points_path).read_text(encoding="utf-8"))
    key = next((k for k in labels if k == name or Path(k).stem == Path(name).stem), None)
    if key is None:
        return []
    return sorted(as_utc(datetime.fromisoformat(p)) for p in labels[key])


def score_alerts(
    alert_times: list[datetime],
    windows: list[tuple[datetime, datetime]],
    weeks: float,
    points: list[datetime] | None = None,
) -> dict[str, Any]:
    """Score alerts against labeled windows: caught windows, false alerts/week, delays.

    With labeled anomaly `points`, also the median delay of each caught window's first
    alert after the earliest point inside that window (negative when it alerted early).
    """
    first: dict[int, datetime] = {}
    false = 0
    for ts in alert_times:
        hit = next((i for i, (a, b) in enumerate(windows) if a <= ts <= b), None)
        if hit is None:
            false += 1
        elif hit not in first:
            first[hit] = ts
    delays = sorted((ts - windows[i][0]).total_seconds() / 60 for i, ts in first.items())
    summary: dict[str, Any] = {
        "windows": len(windows),
        "windows_caught": len(first),
        "false_alerts": false,
        "false_alerts_per_week": round(false / weeks, 3) if weeks else 0.0,
        "median_delay_minutes": round(statistics.median(delays), 1) if delays else None,
    }
    if points:
        from_point = sorted(
            (ts - anchor).total_seconds() / 60
            for i, ts in first.items()
            if (anchor := next((p for p in points if windows[i][0] <= p <= windows[i][1]), None))
        )
        summary["median_delay_from_point_minutes"] = (
            round(statistics.median(from_point), 1) if from_point else None
        )
    return summary


def run_detection_eval(
    csv_path: str | Path,
    preset: str = "balanced",
    out: TextIO = sys.stdout,
    labels_path: str | Path | None = None,
    points_path: str | Path | None = None,
    *,
    forecast: bool = False,
) -> dict[str, Any]:
    """Run the online detector on one CSV, print one JSON line per alert and a summary.

    Labeled anomaly points are read from `points_path`, or else from the
    `anomaly_points.json` beside `labels_path` when there is one. With `forecast`, each
    alert line carries its projection and the summary how the projections fared
    (`tools.eval.forecast`).
    """
    if points_path is None and labels_path is not None:
        points_path = Path(labels_path).with_name(POINTS_FILE)
    return _run(csv_path, preset, out, labels_path, points_path, forecast)


def _run(
    csv_path: str | Path,
    preset_name: str,
    out: TextIO,
    labels_path: str | Path | None,
    points_path: str | Path | None,
    forecast: bool = False,
) -> dict[str, Any]:
    path = Path(csv_path)
    points = read_series(path)
    bin_seconds = infer_bin_seconds(points)
    detector = SpikeDetector(preset(preset_name, bin_seconds=bin_seconds))
    alert_times: list[datetime] = []
    values = [v for _, v in points]
    captured: list[Capture] = []
    for i, (ts, value) in enumerate(points):
        alert = detector.update(ts, value)
        if alert is None:
            continue
        alert_times.append(ts)
        line: dict[str, Any] = {
            "series": path.stem,
            "ts": ts.strftime(_TS_FORMAT),
            "score": alert.score,
            "rule": alert.rule,
        }
        inputs = inputs_of(detector.counts, ts) if forecast else None
        if inputs is not None:
            line["projection"] = inputs.project().to_dict()
            cap = outcome(values, i, inputs, bin_seconds)
            captured += [cap] if cap is not None else []
        out.write(json.dumps(line) + "\n")
    span = (points[-1][0] - points[0][0]).total_seconds() + bin_seconds if points else 0.0
    weeks = span / (7 * 86400)
    summary: dict[str, Any] = {
        "series": path.stem,
        "summary": True,
        "preset": preset_name,
        "bin_seconds": bin_seconds,
        "n": len(points),
        "weeks": round(weeks, 3),
        "alerts": len(alert_times),
        "alerts_per_week": round(len(alert_times) / weeks, 3) if weeks else 0.0,
    }
    if forecast:
        summary["forecast"] = score(captured, ForecastConfig())
    windows = windows_of(labels_path, path.name)
    if windows:
        anomaly_points = _load_points(points_path, path.name)
        summary.update(score_alerts(alert_times, windows, weeks, anomaly_points or None))
    out.write(json.dumps(summary) + "\n")
    return summary


def evaluate_dev(
    data_dir: str | Path | None = None,
    presets: tuple[str, ...] = ("sensitive", "balanced", "strict"),
    out: TextIO = sys.stdout,
) -> list[dict[str, Any]]:
    """Evaluate every CSV in `data_dir` against its `anomaly_windows.json`; print a table.

    The ALL row's delays are the median of the per-series medians. `data_dir` defaults to
    the `nab_realtweets_dev` dataset under $CRISISWATCH_DATA_DIR.
    """
    root = Path(data_dir) if data_dir is not None else dataset_dir(DEV_DATASET)
    labels = root / "anomaly_windows.json"
    rows: list[dict[str, Any]] = []
    for name in presets:
        totals = {"caught": 0, "windows": 0, "false": 0, "weeks": 0.0}
        delays: list[float] = []
        point_delays: list[float] = []
        for csv_path in sorted(root.glob("*.csv")):
            summary = run_detection_eval(csv_path, name, io.StringIO(), labels_path=labels)
            rows.append(summary)
            totals["caught"] += summary.get("windows_caught", 0)
            totals["windows"] += summary.get("windows", 0)
            totals["false"] += summary.get("false_alerts", 0)
            totals["weeks"] += summary["weeks"]
            if summary.get("median_delay_minutes") is not None:
                delays.append(summary["median_delay_minutes"])
            if summary.get("median_delay_from_point_minutes") is not None:
                point_delays.append(summary["median_delay_from_point_minutes"])
            out.write(_row(name, csv_path.stem, summary) + "\n")
        overall = {
            "windows_caught": totals["caught"],
            "windows": totals["windows"],
            "false_alerts_per_week": round(totals["false"] / totals["weeks"], 3),
            "median_delay_minutes": statistics.median(delays) if delays else None,
            "median_delay_from_point_minutes": (
                statistics.median(point_delays) if point_delays else None
            ),
        }
        out.write(_row(name, "ALL", overall) + "\n")
    return rows


def _row(preset_name: str, series: str, summary: dict[str, Any]) -> str:
    caught = f"{summary.get('windows_caught', 0)}/{summary.get('windows', 0)}"
    return (
        f"{preset_name:<10} {series:<22} caught {caught:>5}  "
        f"false/wk {summary.get('false_alerts_per_week', 0.0):>6}  "
        f"median delay min {summary.get('median_delay_minutes')}  "
        f"from point {summary.get('median_delay_from_point_minutes')}"
    )


if __name__ == "__main__":
    evaluate_dev()
